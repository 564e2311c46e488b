"""Encryption at rest for free text users write (Telegram developer terms §4.4).

Fernet (AES-128-CBC + HMAC-SHA256) from `cryptography`; `MultiFernet` lets a
key be rotated: the first key encrypts, every listed key decrypts.
The key lives apart from the database: `DATA_ENCRYPTION_KEY` in the
environment (comma-separated for rotation), or a key file; bot/keys.py decides
at start which, checks it against the database, and makes one only for an
empty database.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class Cipher:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one key is needed")
        self._first = Fernet(keys[0])
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    @classmethod
    def from_settings(cls, env_key: str | None, key_file: Path, database_path: Path) -> Cipher:
        """The configured keys, for checks (`python -m bot health`); never writes a key.
        The bot and rotation start through bot/keys.py, which also checks the key against
        the database and makes one only for an empty database."""
        if env_key:
            return cls([k.strip().encode() for k in env_key.split(",") if k.strip()])
        key_file = key_file.resolve()
        if key_file.parent == database_path.resolve().parent:
            raise ValueError("KEY_FILE must not sit in the database folder; keep the key apart")
        if not key_file.exists():
            raise ValueError(f"no key: DATA_ENCRYPTION_KEY is empty and {key_file} is missing")
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
        """Re-encrypt under the first key (used by `python -m bot.rotate`)."""
        return self._fernet.rotate(blob)

    def is_current(self, blob: bytes) -> bool:
        """True if the first key reads `blob`: a resumed rotation skips it."""
        try:
            self._first.decrypt(blob)
        except InvalidToken:
            return False
        return True
