"""Reproducible seeds derived from names, independent of global random state."""

from __future__ import annotations

import hashlib


def seed_from_string(*parts: object) -> int:
    """A 31-bit seed from the SHA-256 of ``parts`` joined by '/'.

    >>> seed_from_string("demo", "astronaut") == seed_from_string("demo", "astronaut")
    True
    """
    text = "/".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "little") & 0x7FFFFFFF
