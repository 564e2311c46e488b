"""Encryption at rest for free text users write (Telegram developer terms §4.4).

Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`; `MultiFernet` lets a
key be rotated: the first key encrypts, every listed key decrypts.
The key lives apart from the database: `DATA_ENCRYPTION_KEY` in the
environment (comma-separated for rotation), or a key file created on first
run with owner-only permissions.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

log = logging.getLogger(__name__)


class Cipher:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    @classmethod
    def from_settings(
        cls, env_key: str | None, key_file: Path, database_path: Path, *, create: bool = True
    ) -> Cipher:
        """The configured keys; `create=False` (for checks) never writes a key file."""
        if env_key:
            return cls([k.strip().encode() for k in env_key.split(",") if k.strip()])
        key_file = key_file.resolve()
        if key_file.parent == database_path.resolve().parent:
            raise ValueError("KEY_FILE must not sit in the database folder; keep the key apart")
        if not key_file.exists():
            if not create:
                raise ValueError(f"no key: DATA_ENCRYPTION_KEY is empty and {key_file} is missing")
            key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
            log.warning("generated a new data key at %s: back it up", key_file)
        return cls([line.strip() for line in key_file.read_bytes().splitlines() if line.strip()])

    def encrypt(self, text: str) -> bytes:
        return self._fernet.encrypt(text.encode("utf-8"))

    def decrypt(self, blob: bytes) -> str:
        try:
            return self._fernet.decrypt(blob).decode("utf-8")
        except InvalidToken as exc:  # wrong key, or tampered data
            raise ValueError("cannot decrypt stored text: is DATA_ENCRYPTION_KEY right?") from exc

    def enc_opt(self, text: str | None) -> bytes | None:
        return None if text is None else self.encrypt(text)

    def dec_opt(self, blob: bytes | None) -> str | None:
        return None if blob is None else self.decrypt(blob)

    def rotate(self, blob: bytes) -> bytes:
        """Re-encrypt under the first key (used by `python -m bot rotate-key`)."""
        return self._fernet.rotate(blob)
