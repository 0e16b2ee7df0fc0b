"""The timestamped ``v1,<base64>`` scheme accepts the one canonical spelling of the right digest, and nothing else."""

from __future__ import annotations

import base64
import hashlib
import hmac
import string
import time

import pytest

from listeners.rejections import UnauthorizedError
from listeners.sources.keyring import Credential, Keyring
from listeners.sources.signing import timestamped_v1

SECRET = b"standard-webhooks-key"
BODY = b'{"dataset": "lake/events"}'
B64_ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"


def signature_of(message_id: str, timestamp: str) -> str:
    digest = hmac.new(SECRET, f"{message_id}.{timestamp}.".encode() + BODY, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def check(signature: str, message_id: str, timestamp: str) -> Credential:
    return timestamped_v1(
        message_id=message_id,
        timestamp=timestamp,
        signatures=f"v1,{signature}",
        body=BODY,
        keyring=Keyring([Credential(SECRET)]),
    )


def test_the_canonical_signature_is_accepted() -> None:
    timestamp = str(int(time.time()))
    assert check(signature_of("msg-1", timestamp), "msg-1", timestamp).secret == SECRET


def test_every_other_spelling_of_the_last_character_is_refused() -> None:
    """A 32-byte digest leaves two unused bits in the last base64 character: a decoder reads four spellings alike."""
    timestamp = str(int(time.time()))
    canonical = signature_of("msg-2", timestamp)
    last = B64_ALPHABET.index(canonical[-2])
    same_bytes = [B64_ALPHABET[(last & ~0b11) | low] for low in range(4) if (last & ~0b11) | low != last]
    assert len(same_bytes) == 3
    for character in same_bytes:
        respelled = canonical[:-2] + character + canonical[-1]
        assert base64.b64decode(respelled) == base64.b64decode(canonical)
        with pytest.raises(UnauthorizedError):
            check(respelled, "msg-2", timestamp)
