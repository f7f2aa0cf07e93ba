"""A profile object's ``source`` parsed once into a typed source, of the kinds the profile
schema accepts (meter/profile_schema.py checks profiles before the device binds them)."""

from __future__ import annotations

import pytest

from meter.device.bindings import PROVIDERS, Source, SourceKind
from meter.profile_schema import METROLOGY_SOURCES, SECURITY_SOURCES


def test_source_kinds_are_the_schema_kinds() -> None:
    assert {k.value for k in SourceKind} == set(METROLOGY_SOURCES + SECURITY_SOURCES)
    # Every kind is bound by the provider table but demand (fed by the scheduler).
    assert set(SourceKind) - set(PROVIDERS) == {SourceKind.DEMAND}


def test_a_source_is_a_kind_and_a_key() -> None:
    assert Source.parse("energy:A+") == Source(SourceKind.ENERGY, "A+")
    assert Source.parse("replays:0.0.43.0.0.255") == Source(SourceKind.REPLAYS, "0.0.43.0.0.255")
    with pytest.raises(ValueError):
        Source.parse("volts:A")
