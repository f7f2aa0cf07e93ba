"""The ACESM firmware image (meter/security/firmware_image.py): what verification accepts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from meter.security import ecc
from meter.security.firmware_image import MAGIC, ImageError, open_image
from support.paths import ROOT

from .images import KEY_PEM, forged, image, manufacturer_key

PUBLIC = ecc.point_bytes(manufacturer_key().public_key())


def test_a_signed_image_opens_with_its_version_payload_and_signature() -> None:
    raw = image("ACESM-0.2.0", 1000)
    found = open_image(raw, PUBLIC)
    assert found.version == b"ACESM-0.2.0"
    assert found.payload == bytes(i * 7 & 0xFF for i in range(1000))
    assert found.signature == raw[-64:] and raw.startswith(MAGIC)


@pytest.mark.parametrize("damage", [
    lambda raw: raw[:-1],                                   # signature cut short
    lambda raw: raw + b"\0",                                # bytes after the signature
    lambda raw: raw[:100] + bytes([raw[100] ^ 1]) + raw[101:],  # a payload bit flipped
    lambda raw: b"ACESMFW2" + raw[8:],                      # not our magic
    lambda raw: raw[:8] + b"\0" + raw[9:],                  # version length 0
    lambda raw: raw[:10],                                   # cut in the header
    lambda raw: b"",
])
def test_a_damaged_image_is_refused(damage: object) -> None:
    with pytest.raises(ImageError):
        open_image(damage(image()), PUBLIC)  # type: ignore[operator]


def test_an_image_signed_by_another_key_is_refused() -> None:
    with pytest.raises(ImageError, match="signature"):
        open_image(forged(), PUBLIC)


def test_the_cli_makes_an_image_the_profile_key_verifies(tmp_path: Path) -> None:
    out = tmp_path / "fw.img"
    done = subprocess.run(
        [sys.executable, "-m", "meter.cli", "firmware", "make", "--version", "ACESM-9.9",
         "--key", str(KEY_PEM), "--size", "5000", "-o", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert PUBLIC.hex().upper() in done.stdout
    profile = (ROOT / "profiles" / "acesm.toml").read_text()
    assert f'manufacturer_key = "{PUBLIC.hex().upper()}"' in profile
    found = open_image(out.read_bytes(), PUBLIC)
    assert found.version == b"ACESM-9.9" and len(found.payload) == 5000
