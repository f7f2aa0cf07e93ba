"""Prepayment in the meter: each Token gateway given its token check, and the accounts'
collections run on the scheduler's steps (meter/cosem/prepayment.py has the rules).

A collection falls due on a charge's period boundary of meter time; the scheduler steps there
(as it does for the limiters: both are a :class:`Supervision`), so a live run, a time-scaled run
and a back-fill collect the same amounts at the same times. Each collection marks the metrology
snapshot due: the charge's last commodity reading and the energy it came from are committed
together, so after a kill -9 the energy is never behind what was charged for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial

from meter.cosem.base import Context
from meter.cosem.prepayment import Account, OpenedToken, TokenGateway, TokenRefused, TokenStatus
from meter.cosem.registry import ObjectDirectory
from meter.device.scheduler import Supervision
from meter.security.prepay_token import TokenAuthError, TokenError, open_token

__all__ = ["Collections", "Supervisions", "attach"]

log = logging.getLogger(__name__)


def _open(key: bytes, system_title: bytes, token: bytes) -> OpenedToken:
    try:
        found = open_token(token, key, system_title)
    except TokenAuthError as exc:
        raise TokenRefused(TokenStatus.AUTHENTICATION_FAILURE, str(exc)) from None
    except TokenError as exc:
        raise TokenRefused(TokenStatus.FORMAT_FAILURE, str(exc)) from None
    return OpenedToken(found.token_id, found.amount)


def attach(directory: ObjectDirectory, system_title: bytes) -> None:
    """Give every Token gateway the check of its profile ``token_key`` under this meter's
    system title (without a key every token is refused: authentication failure)."""
    for obj in directory:
        if isinstance(obj, TokenGateway) and obj.token_key is not None:
            obj.opener = partial(_open, obj.token_key, system_title)


class Collections:
    """When the accounts collect (a :class:`Supervision` of the scheduler)."""

    def __init__(self, directory: ObjectDirectory, snapshot_due: Callable[[], None],
                 context: Callable[[], Context]) -> None:
        self._accounts = [o for o in directory if isinstance(o, Account)]
        self._clock = directory.clock if self._accounts else None
        self._snapshot_due = snapshot_due
        self._ctx = context()  # the device's internal context (its callbacks do not change)
        for account in self._accounts:
            account.start(self._ctx)  # the charges' baselines at a first start

    def next_due(self) -> float | None:
        if self._clock is None:
            return None
        meter_t = self._clock.timestamp()
        times = [t for t in (a.next_due(meter_t, self._ctx) for a in self._accounts) if t is not None]
        return min(times, default=None)

    def run(self, ctx: Context) -> None:
        if self._clock is None:
            return
        meter_t = self._clock.timestamp()
        for account in self._accounts:
            account.collect(meter_t, ctx)
        self._snapshot_due()


class Supervisions:
    """Several supervisions as one (the scheduler holds one): each runs when it is due."""

    def __init__(self, parts: Sequence[Supervision], meter_time: Callable[[], float]) -> None:
        self._parts = list(parts)
        self._meter_time = meter_time

    def next_due(self) -> float | None:
        times = [t for t in (p.next_due() for p in self._parts) if t is not None]
        return min(times, default=None)

    def run(self, ctx: Context) -> None:
        now = self._meter_time()
        for part in self._parts:
            due = part.next_due()
            if due is not None and due <= now:
                part.run(ctx)
