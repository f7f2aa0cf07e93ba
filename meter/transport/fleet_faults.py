"""Link faults of a fleet (issue 12 item 3): fleet-wide, or one meter's own.

One :class:`~meter.transport.faults.LinkFaults` holds the fleet-wide settings (``fleet
--faults SPEC``, ``POST /faults``) and acts on every meter's listeners (wrapper, HDLC over TCP).
A meter given settings of its own (``POST /meters/ID/faults``) gets a LinkFaults of its own:
from then on its connections use its settings, its random generator and its counters instead
of the fleet-wide ones, until it goes back to the fleet's (:meth:`FleetFaults.to_fleet`).

Bounds: a LinkFaults exists only for the meters that got their own (a dict; none for the
others). A connection gets a :class:`~meter.transport.faults.FaultyLink` only when the faults
that apply to its meter have something on as it opens (:meth:`FleetFaults.applicable`): with
none on, a connection costs what it costs without faults. So a fault switched on applies from
the meter's next connection (and on a connection opened while faults were on, from its next
frame); one switched off, from the next frame.

``tally`` (the control API's metrics) is told of every count of every LinkFaults here, as it is
made: the fleet's totals never need a scan of the meters.
"""

from __future__ import annotations

from collections.abc import Callable

from meter.transport.faults import LinkFaults

__all__ = ["FleetFaults"]


class FleetFaults:
    """The fleet-wide link faults and the meters' own (module docstring)."""

    def __init__(self, fleet: LinkFaults | None = None) -> None:
        self.fleet = LinkFaults() if fleet is None else fleet
        self._own: dict[int, LinkFaults] = {}
        self._tally: Callable[[str], None] | None = None

    @property
    def tally(self) -> Callable[[str], None] | None:
        return self._tally

    @tally.setter
    def tally(self, tally: Callable[[str], None] | None) -> None:
        self._tally = tally
        self.fleet.tally = tally
        for faults in self._own.values():
            faults.tally = tally

    def of(self, index: int) -> LinkFaults:
        """The faults meter ``index``'s links use: its own, else the fleet's."""
        return self._own.get(index, self.fleet)

    def has_own(self, index: int) -> bool:
        return index in self._own

    def own(self, index: int) -> LinkFaults:
        """Meter ``index``'s own faults, made (all off) if it had none."""
        faults = self._own.get(index)
        if faults is None:
            faults = self._own[index] = LinkFaults()
            faults.tally = self._tally
        return faults

    def adopt(self, index: int, faults: LinkFaults) -> None:
        """``faults`` become meter ``index``'s own (replacing what it had)."""
        faults.tally = self._tally
        self._own[index] = faults

    def to_fleet(self, index: int) -> None:
        """Meter ``index`` back on the fleet-wide faults (its own settings and counters go)."""
        self._own.pop(index, None)

    def owners(self) -> list[int]:
        """The meters with faults of their own, in order."""
        return sorted(self._own)

    def applicable(self, index: int) -> LinkFaults | None:
        """For a new connection of meter ``index``: its faults when any is on, else None
        (no FaultyLink)."""
        faults = self._own.get(index, self.fleet)
        return faults if faults.on else None
