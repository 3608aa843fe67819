"""The site's secret key: from ``CMS_SECRET_KEY``, else a generated 0600 file beside the
settings, so a restart keeps people signed in and no secret lives in the repository."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

__all__ = ["SECRET_KEY_FILE", "load_secret_key"]

SECRET_KEY_FILE = ".cms-secret-key"  # noqa: S105 (a file name)


def load_secret_key(base_dir: Path) -> bytes:
    """Return 32 bytes of key material for this site."""
    from_env = os.environ.get("CMS_SECRET_KEY")
    if from_env:
        return hashlib.sha256(from_env.encode("utf-8")).digest()
    path = base_dir / SECRET_KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        text = path.read_text(encoding="ascii").strip()
        return base64.urlsafe_b64decode(text)
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(base64.urlsafe_b64encode(key).decode("ascii") + "\n")
    return key
