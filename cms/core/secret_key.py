"""The site's secret key: from ``CMS_SECRET_KEY``, else a generated 0600 file beside the
settings, so a restart keeps people signed in and no secret lives in the repository."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from pathlib import Path

from cms.core.settings import SettingsError

__all__ = ["SECRET_KEY_FILE", "load_secret_key"]

SECRET_KEY_FILE = ".cms-secret-key"


MIN_SECRET_LENGTH = 16


def load_secret_key(base_dir: Path) -> bytes:
    """Return 32 bytes of key material for this site; SettingsError when the secret given
    is too short to protect anything or the key file is damaged."""
    from_env = os.environ.get("CMS_SECRET_KEY")
    if from_env:
        if len(from_env) < MIN_SECRET_LENGTH:
            raise SettingsError(
                f"CMS_SECRET_KEY is {len(from_env)} characters; use at least "
                f"{MIN_SECRET_LENGTH} random characters (or unset it to use a generated key)"
            )
        return hashlib.sha256(from_env.encode("utf-8")).digest()
    path = base_dir / SECRET_KEY_FILE
    if not path.exists():
        # Write the whole key to a private temporary file, then link it into place: the
        # link either appears complete or fails because another worker won the race.
        key = secrets.token_bytes(32)
        temporary = base_dir / f"{SECRET_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(base64.urlsafe_b64encode(key).decode("ascii") + "\n")
            os.link(temporary, path)
            return key
        except FileExistsError:
            pass
        finally:
            temporary.unlink(missing_ok=True)
    try:
        key = base64.urlsafe_b64decode(path.read_text(encoding="ascii").strip())
    except (OSError, UnicodeDecodeError, binascii.Error, ValueError) as error:
        raise SettingsError(
            f"{path}: cannot be read as a secret key ({error}); "
            "delete it to make a new one (everyone is signed out)"
        ) from None
    if len(key) != 32:
        raise SettingsError(
            f"{path}: is not a cms secret key (it holds {len(key)} bytes, "
            "not 32); delete it to make a new one (everyone is signed out)"
        )
    return key
