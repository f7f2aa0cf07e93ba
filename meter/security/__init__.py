"""Security primitives (Green Book 9.2: ciphering, HLS authentication, key wrap) over bytes.

Imports codec, errors and ``cryptography`` only; it knows nothing of APDUs.
"""
