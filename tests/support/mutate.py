"""Structural damage to valid bytes, for the fuzz tests and tools/fuzz-long: seeded
``random.Random`` only, so every run is reproducible."""

from __future__ import annotations

import random

__all__ = ["mutate"]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random structural damage: flip, overwrite, truncate, insert, duplicate or splice."""
    b = bytearray(data)
    op = rng.randrange(6)
    if not b:
        return bytes(rng.randbytes(rng.randrange(1, 16)))
    i = rng.randrange(len(b))
    if op == 0:
        b[i] ^= 1 << rng.randrange(8)
    elif op == 1:
        b[i] = rng.choice((0x00, 0x7E, 0x80, 0x81, 0x82, 0xFF, rng.randrange(256)))
    elif op == 2:
        del b[i:]
    elif op == 3:
        b[i:i] = rng.randbytes(rng.randrange(1, 8))
    elif op == 4:
        b[i:i] = b[i:i + rng.randrange(1, 16)]
    else:
        j = rng.randrange(len(b))
        b[i], b[j] = b[j], b[i]
    return bytes(b)
