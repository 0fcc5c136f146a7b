"""The VAPID key pair: made once, kept in ``data_dir`` readable by its owner only.

Browsers bind a push subscription to the public key it was made with, so the key
must survive restarts and be the same in every app process: it is created
atomically (the first process wins, the others read its file) and never rotated
silently. Rotating means every patient subscribes again.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid

__all__ = ["KEY_FILE", "VapidKeys", "load_or_create"]

KEY_FILE = "vapid_private.pem"


class VapidKeys:
    """A loaded VAPID key pair."""

    def __init__(self, vapid: Vapid, path: Path, created: bool) -> None:
        self.vapid = vapid
        self.path = path
        self.created = created
        raw = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        # What the browser's pushManager.subscribe() takes as applicationServerKey.
        self.public_key = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _write_new(path: Path) -> bool:
    """Write a fresh key to ``path`` unless one appears meanwhile; true when this call made it."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        # link() fails when the name exists: two processes starting at once keep one key.
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def load_or_create(data_dir: str | Path) -> VapidKeys:
    """The key pair in ``data_dir``, generated (mode 0600, folder 0700) when there is none.

    Raises:
        PermissionError: the key file is readable by others; fix its mode (chmod 600).
        ValueError: the file is not a key.
    """
    folder = Path(data_dir)
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700, exist_ok=True)
    path = folder / KEY_FILE
    created = False
    if not path.exists():
        created = _write_new(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise PermissionError(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
    text = path.read_bytes()
    try:
        # As Vapid.from_file reads it, without the error it logs on the root logger (a second,
        # longer line in the service's log).
        vapid = Vapid.from_pem(text) if b"-----BEGIN" in text else Vapid.from_der(text)
    except Exception:
        raise ValueError(
            f"{path} is not a VAPID private key (PEM): restore it from your backup, or move it away and run "
            "`unknot vapid-keys` for a new pair (each phone then gets reminders again once its app is opened)"
        ) from None
    return VapidKeys(vapid, path, created)
