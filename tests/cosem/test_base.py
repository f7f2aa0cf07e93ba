from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from meter.codec import axdr
from meter.codec.axdr import Integer, OctetString, Structure, Unsigned
from meter.codec.obis import Obis
from meter.codec.axdr import Data as AxdrData
from meter.cosem.base import Context, CosemObject, Method, on_action, on_get, on_set
from meter.cosem.data import Data
from meter.cosem.registry import ObjectDirectory, _all_classes, class_for, class_named
from meter.errors import AccessError, DataAccessResult

from .helpers import world

LN = Obis(0, 0, 96, 1, 0, 255)


@pytest.mark.parametrize("cls", sorted(_all_classes(), key=lambda c: c.__name__),
                         ids=lambda c: c.__name__)
def test_tables(cls: type[CosemObject]) -> None:
    indices = [a.index for a in cls.ATTRIBUTES]
    assert indices == list(range(1, len(indices) + 1))
    assert cls.ATTRIBUTES[0].name == "logical_name"
    assert len({a.py_name for a in cls.ATTRIBUTES}) == len(indices)
    assert [m.index for m in cls.METHODS] == list(range(1, len(cls.METHODS) + 1))
    assert len({m.py_name for m in cls.METHODS}) == len(cls.METHODS)
    assert cls.NAME and cls.CLASS_ID


def test_a_handler_for_a_name_not_in_the_table_is_a_typo() -> None:
    for decorator in (on_get, on_set):
        with pytest.raises(TypeError):
            class Typo(Data):
                @decorator("valeu")
                def handler(self) -> None: ...
    with pytest.raises(TypeError):
        class NoMethod(Data):
            @on_action("reset")
            def reset(self) -> None: ...


def test_an_override_keeps_its_row() -> None:
    class Doubled(Data):
        @on_get("value")
        def double(self, ctx: Context, selector: int | None, parameters: AxdrData | None) -> AxdrData:
            return Unsigned(2 * self.int_value("value"))

    class Tripled(Doubled):
        def double(self, ctx: Context, selector: int | None, parameters: AxdrData | None) -> AxdrData:
            return Unsigned(3 * self.int_value("value"))

    obj = Tripled(LN, value=Unsigned(3))
    assert obj.get(2, world(obj).ctx()) == Unsigned(9)


def test_registry() -> None:
    assert class_for(1) is Data
    assert class_for(999) is None
    assert class_named("measurement_algorithm").CLASS_ID == 1
    with pytest.raises(KeyError):
        class_named("nope")


def test_generic_get_set() -> None:
    w = world(Data(LN, value=Unsigned(3)))
    obj = w.directory[LN]
    ctx = w.ctx()
    assert obj.get(1, ctx) == OctetString(LN.to_bytes())
    assert obj.get(2, ctx) == Unsigned(3)
    obj.set(2, OctetString(b"x"), ctx)
    assert obj.get(2, ctx) == OctetString(b"x")
    assert w.changes == [obj]
    for call, result in [
        (lambda: obj.get(3, ctx), DataAccessResult.OBJECT_UNDEFINED),
        (lambda: obj.set(1, OctetString(bytes(6)), ctx), DataAccessResult.READ_WRITE_DENIED),
        (lambda: obj.get(2, ctx, selector=1), DataAccessResult.SCOPE_OF_ACCESS_VIOLATED),
        (lambda: obj.action(1, None, ctx), DataAccessResult.OBJECT_UNDEFINED),
    ]:
        with pytest.raises(AccessError) as exc:
            call()
        assert exc.value.result == result


def test_bind_and_state() -> None:
    obj = Data(LN, value=Unsigned(1))
    ctx = world(obj).ctx()
    obj.bind(2, lambda: Integer(-5))
    assert obj.get(2, ctx) == Integer(-5)
    with pytest.raises(AccessError) as exc:
        obj.set(2, Integer(1), ctx)
    assert exc.value.result == DataAccessResult.READ_WRITE_DENIED
    assert obj.dump_state() == {}


def test_unknown_initial_value() -> None:
    with pytest.raises(TypeError):
        Data(LN, nope=Unsigned(1))


def test_method_handlers() -> None:
    class Thing(CosemObject):
        CLASS_ID = 9999
        NAME = "thing"
        METHODS = (Method(1, "frob"),)

    class Frobber(Thing):
        @on_action("frob")
        def frob(self, parameters: AxdrData | None, ctx: Context) -> AxdrData | None:
            return parameters

    thing = Thing(LN)
    ctx = world(thing).ctx()
    with pytest.raises(AccessError) as exc:
        thing.action(1, None, ctx)
    assert exc.value.result == DataAccessResult.OTHER_REASON
    assert Frobber(LN).action(1, Unsigned(7), ctx) == Unsigned(7)


def test_directory() -> None:
    d = ObjectDirectory([Data(LN)])
    assert LN in d and len(d) == 1 and [o.logical_name for o in d] == [LN]
    with pytest.raises(ValueError):
        d.add(Data(LN))
    with pytest.raises(AccessError):
        _ = d.clock


simple = st.one_of(
    st.integers(0, 255).map(Unsigned), st.integers(-128, 127).map(Integer),
    st.binary(max_size=20).map(OctetString))
values = st.recursive(simple, lambda kids: st.lists(kids, max_size=4).map(
    lambda xs: Structure(tuple(xs))), max_leaves=10)


@settings(max_examples=50)
@given(values)
def test_state_round_trip(value: axdr.Data) -> None:
    a = Data(LN, value=value)
    b = Data(LN)
    state = {i: axdr.decode(v.to_bytes()) for i, v in a.dump_state().items()}
    b.load_state(state)
    assert b.dump_state() == a.dump_state()
