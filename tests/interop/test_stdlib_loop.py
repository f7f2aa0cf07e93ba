"""The interop tests that cover each kind of exchange, again against a meter on the stdlib event
loop (ACESM_NO_UVLOOP=1): the default install serves on uvloop, and a platform without it (or an
operator who turns it off) must get the same meter. Every association with both client stacks
over both framings, a load profile by block transfer, and a ciphered SET of the clock.

The test functions are the other modules' own: imported here, they run on this module's
``meter`` fixture, which overrides the session one of conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .conftest import Meter, serve
from .test_associations import test_associate_read_ldn_release
from .test_management import test_set_clock_and_read_back
from .test_metering import test_load_profile_by_range

pytestmark = pytest.mark.interop

__all__ = ["test_associate_read_ldn_release", "test_load_profile_by_range",
           "test_set_clock_and_read_back"]


@pytest.fixture(scope="module")
def meter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Meter]:
    # The meter inherits the environment; tests/cli/test_signals.py shows it then says
    # "event loop: asyncio".
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ACESM_NO_UVLOOP", "1")
        with serve(tmp_path_factory.mktemp("stdlib-meter-state")) as started:
            patch.delenv("ACESM_NO_UVLOOP")  # started: the other tests' processes go on uvloop
            yield started
