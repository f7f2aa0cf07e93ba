"""The association state machine as data (server/acse.py): every state x APDU kind has a step,
every outcome either moves the state by the table or is refused as a bug, and the COSEM
association_status always follows the state (h2's test_state_machines, in small)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meter.codec.obis import Obis
from meter.cosem.association_ln import AssociationLN, AssociationStatus
from meter.errors import LocalProtocolError
from meter.server import acse
from meter.server.acse import STATUS, STEPS, TRANSITIONS, Association, Kind, Outcome, State
from meter.server.environment import ClientPolicy


def test_every_state_and_kind_has_a_step() -> None:
    assert set(STEPS) == set(itertools.product(State, Kind))


def test_aarq_and_rlrq_do_the_same_in_every_state() -> None:
    assert {STEPS[(s, Kind.AARQ)] for s in State} == {acse.Step.ASSOCIATE}
    assert {STEPS[(s, Kind.RLRQ)] for s in State} == {acse.Step.RELEASE}


def _association() -> Association:
    cosem = AssociationLN(Obis(0, 0, 40, 0, 1, 255))
    policy = ClientPolicy(16, "public", cosem.logical_name)
    # The table alone: no services or channel are needed to move the state.
    return Association(policy, cosem, services=None, channel=None)


@given(st.lists(st.sampled_from(list(Outcome)), max_size=12))
def test_outcomes_move_by_the_table_and_status_follows(outcomes: list[Outcome]) -> None:
    assoc = _association()
    for outcome in outcomes:
        before = assoc.state
        expected = TRANSITIONS.get((before, outcome))
        if expected is None:
            with pytest.raises(LocalProtocolError):
                assoc.move(outcome)
            assert assoc.state is before
        else:
            assoc.move(outcome)
            assert assoc.state is expected
        assert assoc.cosem.status is STATUS[assoc.state]


def test_hls_path() -> None:
    assoc = _association()
    assoc.move(Outcome.CHALLENGED)
    assert assoc.cosem.status is AssociationStatus.ASSOCIATION_PENDING
    assoc.move(Outcome.AUTHENTICATED)
    assert assoc.cosem.status is AssociationStatus.ASSOCIATED
    assoc.move(Outcome.RELEASED)
    assert assoc.cosem.status is AssociationStatus.NON_ASSOCIATED
