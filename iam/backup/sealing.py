"""A passphrase-sealed stream: scrypt derives the key, AES-256-GCM seals 1 MiB chunks.

    RIAMBAK1 | header length (4 bytes) | header (JSON: KDF parameters, salt, nonce prefix)
    then per chunk: final flag (1 byte) | length (4 bytes) | ciphertext and tag

Each chunk's nonce is the header's 7-byte prefix, the chunk's number (4 bytes) and its final
flag (1 byte), and every chunk authenticates the header as associated data: a chunk moved,
dropped, altered or cut short, a flag flipped, a wrong passphrase, all fail to open (the
STREAM construction), and nothing is written out from a chunk that did not open.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from iam.errors import BackupError

MAGIC = b"RIAMBAK1"
CHUNK = 1 << 20
SCRYPT = {"n": 2**15, "r": 8, "p": 1}  # 32 MiB and ~0.1 s per derivation
MIN_PASSPHRASE = 12
_NONCE_PREFIX = 7


def _key(passphrase: bytes, salt: bytes, params: dict[str, Any]) -> bytes:
    if len(passphrase) < MIN_PASSPHRASE:
        raise BackupError(f"the passphrase must be at least {MIN_PASSPHRASE} characters")
    return Scrypt(salt=salt, length=32, n=int(params["n"]), r=int(params["r"]),
                  p=int(params["p"])).derive(passphrase)


def _nonce(prefix: bytes, counter: int, final: bool) -> bytes:
    return prefix + struct.pack(">I?", counter, final)


def sealed(data: bytes) -> bool:
    """Whether a file starting with `data` is sealed (else: a plain archive)."""
    return data.startswith(MAGIC)


class SealingWriter:
    """A write-only file: what is written goes out sealed; `close` seals the last chunk."""

    def __init__(self, out: IO[bytes], passphrase: bytes) -> None:
        salt, prefix = os.urandom(16), os.urandom(_NONCE_PREFIX)
        self._aead = AESGCM(_key(passphrase, salt, SCRYPT))
        header = json.dumps({"kdf": "scrypt", **SCRYPT, "cipher": "AES-256-GCM",
                             "salt": base64.b64encode(salt).decode(),
                             "nonce_prefix": base64.b64encode(prefix).decode()}).encode()
        self._aad = MAGIC + struct.pack(">I", len(header)) + header
        self._prefix = prefix
        self._out = out
        self._buffer = bytearray()
        self._counter = 0
        out.write(self._aad)

    def write(self, data: bytes) -> int:
        self._buffer += data
        while len(self._buffer) > CHUNK:
            self._seal(bytes(self._buffer[:CHUNK]), final=False)
            del self._buffer[:CHUNK]
        return len(data)

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        self._seal(bytes(self._buffer), final=True)
        self._buffer.clear()
        self._out.flush()

    def _seal(self, chunk: bytes, *, final: bool) -> None:
        sealed_chunk = self._aead.encrypt(_nonce(self._prefix, self._counter, final), chunk,
                                          self._aad)
        self._out.write(struct.pack(">?I", final, len(sealed_chunk)) + sealed_chunk)
        self._counter += 1


class OpeningReader:
    """A read-only file over a sealed stream: each chunk opened before it is handed out."""

    def __init__(self, source: IO[bytes], passphrase: bytes) -> None:
        head = source.read(len(MAGIC) + 4)
        if len(head) < len(MAGIC) + 4 or not sealed(head):
            raise BackupError("not a sealed registry-iam backup")
        (length,) = struct.unpack(">I", head[len(MAGIC):])
        if length > 4096:
            raise BackupError("the archive's header is damaged")
        header = source.read(length)
        try:
            params = json.loads(header)
            salt = base64.b64decode(params["salt"])
            self._prefix = base64.b64decode(params["nonce_prefix"])
            if params.get("kdf") != "scrypt" or len(self._prefix) != _NONCE_PREFIX:
                raise ValueError(params.get("kdf"))
            if int(params["n"]) > 2**20 or int(params["r"]) > 16 or int(params["p"]) > 4:
                raise ValueError("cost")  # a forged header must not make us allocate gigabytes
        except (ValueError, KeyError, TypeError):
            raise BackupError("the archive's header is damaged") from None
        self._aead = AESGCM(_key(passphrase, salt, params))
        self._aad = head + header
        self._source = source
        self._counter = 0
        self._done = False
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            self._buffer += self._open_next()
        if size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def close(self) -> None:
        self._source.close()

    def _open_next(self) -> bytes:
        head = self._source.read(5)
        if len(head) < 5:
            raise BackupError("the archive is cut short (its last chunk is missing)")
        final, length = struct.unpack(">?I", head)
        if length > CHUNK + 16:
            raise BackupError("the archive is damaged (a chunk is too long)")
        body = self._source.read(length)
        try:
            chunk = self._aead.decrypt(_nonce(self._prefix, self._counter, final), body,
                                       self._aad)
        except InvalidTag:
            raise BackupError("wrong passphrase, or the archive was altered") from None
        self._counter += 1
        if final:
            self._done = True
            if self._source.read(1):
                raise BackupError("the archive has data after its last chunk")
        return chunk
