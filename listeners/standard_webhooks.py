"""How a Standard Webhooks secret is written down, and the HMAC key it stands for.

A secret is ``whsec_`` followed by the key in base64, which senders (Svix
among them) often print without ``=`` padding. The key is read exactly as the
reference ``standardwebhooks`` library reads it (its ``Webhook`` constructor):
prefix dropped, padding added, then a lenient base64 decode. The library's
own ``verify`` is not used: it needs the body as text (a non-UTF-8 body
raises instead of being refused), takes one secret per instance where a
source keeps several for rotation, fixes the clock tolerance at 5 minutes,
and compares decoded signatures, so several spellings of one signature pass;
:func:`listeners.sources.signing.timestamped_v1` does the check instead, and
the tests sign with the reference library to prove the two agree.
"""

from __future__ import annotations

import base64
import binascii

PREFIX = "whsec_"


def signing_key(secret: str) -> bytes:
    """The HMAC key of ``secret``: the decoded key of a ``whsec_`` secret, any other secret's own bytes.

    Raises ``ValueError`` for a ``whsec_`` secret that is not base64 at all.
    """
    if not secret.startswith(PREFIX):
        return secret.encode()
    try:
        return base64.b64decode(secret[len(PREFIX) :] + "==")
    except binascii.Error as e:
        raise ValueError(f"the key after {PREFIX!r} is not base64") from e
