"""The site's secret key: from ``CMS_SECRET_KEY``, else a generated 0600 file beside the
settings, so a restart keeps people signed in and no secret lives in the repository."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

__all__ = ["SECRET_KEY_FILE", "load_secret_key"]

SECRET_KEY_FILE = ".cms-secret-key"


def load_secret_key(base_dir: Path) -> bytes:
    """Return 32 bytes of key material for this site."""
    from_env = os.environ.get("CMS_SECRET_KEY")
    if from_env:
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
    text = path.read_text(encoding="ascii").strip()
    return base64.urlsafe_b64decode(text)
