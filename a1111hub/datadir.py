"""The data folder: everything the hub writes (SQLite, media, the generated secret key).

Settings only *read* from it, so importing them has no side effects; the folder and the
secret key file are made at start-up, by ``manage.py`` (``runhub``, ``migrate``,
``qcluster``, ...) and the WSGI entry point, before Django loads.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY_FILE = "secret_key"


def data_dir() -> Path:
    return Path(os.environ.get("HUB_DATA_DIR", "").strip() or BASE_DIR / "data").resolve()


def prepare_data_dir() -> Path:
    """Create the data folder and, unless SECRET_KEY is given, a secret key kept in it."""
    root = data_dir()
    (root / "static").mkdir(parents=True, exist_ok=True)
    path = root / SECRET_KEY_FILE
    if not os.environ.get("SECRET_KEY", "").strip() and not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return root
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(50))
    return root


def read_secret_key(root: Path) -> str:
    """The kept secret key; a per-process one where none was made (a test run, or a
    command started without ``manage.py``: nothing it signs outlives it)."""
    path = root / SECRET_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    return secrets.token_urlsafe(50)
