"""Deterministic percentage buckets: where a request key falls in [0, 100).

Canary routing and flag rollouts both ask "is this key inside the first p
percent?". The answer must not change between calls or processes (a user
stays on one variant), and must differ per feature (the 1% of keys that get
a canary are not the 1% that get some other flag), hence the salt.
"""

from __future__ import annotations

import hashlib

_SCALE = 100.0 / 2**64


def percent_bucket(salt: str, key: str) -> float:
    digest = hashlib.blake2b(f"{salt}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") * _SCALE


def in_rollout(salt: str, key: str, percentage: float) -> bool:
    """True for about `percentage` percent of keys; a key inside stays inside as it grows."""
    return percentage >= 100.0 or percent_bucket(salt, key) < percentage
