"""What the key-management tests add to the shared harness (tests/support): the suite-1 Security
setup, the master key of the default profile and a profile that lets management call suite 1."""

from __future__ import annotations

from pathlib import Path

from support import PROFILE

from meter.codec.obis import Obis

SUITE1_SETUP = Obis.parse("0.0.43.0.3.255")
MASTER = bytes.fromhex("00112233445566778899AABBCCDDEEFF")  # profiles/acesm.toml [keys]


def profile_with_suite1(tmp: Path) -> Path:
    """The default profile plus a suite-1 Security setup whose methods management may call."""
    # acesm.toml has this setup since client 3 (HLS-ECDSA): override it, merged by OBIS.
    text = f'extends = "{PROFILE}"\n'
    text += (f'\n[[object]]\nobis = "{SUITE1_SETUP}"\nclass = "security_setup"\n'
             'security_policy = 0\nsecurity_suite = 1\nread = "public"\nwrite = "management"\n'
             'methods = "management"\n')
    path = tmp / "suite1.toml"
    path.write_text(text)
    return path
