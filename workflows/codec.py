"""Payloads leave for Temporal encrypted: names, phones and comments never sit in clear in a history.

AES-256-GCM with a 12-byte random nonce before the ciphertext; the key id rides in the payload's
metadata and is bound to the ciphertext (associated data), so a payload cannot be passed off as
encrypted under another key. Encryption uses the current key (the keyring's first); decryption
whichever key the payload names, so keys rotate: add a new key first, keep the old ones while
histories written with them live. A payload without our encoding (histories recorded before the
codec, the replay fixtures) passes through as it is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class PayloadKeyError(ValueError):
    """A payload cannot be decrypted here: its key is not configured, or it does not authenticate."""


class EncryptionCodec(PayloadCodec):
    def __init__(self, keyring: Sequence[tuple[str, bytes]]) -> None:
        if not keyring:
            raise ValueError("an encryption codec needs at least one key")
        self.current = keyring[0][0]
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keyring}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        key_id = self.current.encode()
        sealed = self._ciphers[self.current].encrypt(nonce, payload.SerializeToString(), key_id)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadKeyError(
                f"payload encrypted with key id {key_id!r}, which is not in NUDGEFLOW_PAYLOAD_KEYS "
                f"(known: {', '.join(sorted(self._ciphers))}): add that key to decrypt it"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            return Payload.FromString(cipher.decrypt(nonce, sealed, key_id.encode()))
        except InvalidTag:
            raise PayloadKeyError(
                f"payload under key id {key_id!r} does not authenticate: altered, or another key "
                "with the same id"
            ) from None
