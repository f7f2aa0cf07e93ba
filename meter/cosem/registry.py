"""Interface-class registry and the logical device's object directory (Blue Book §4.1.2).

``class_for(class_id)`` and ``class_named(name)`` find classes (filled by
``CosemObject.__init_subclass__``; importing this module imports every class module).
:class:`ObjectDirectory` is the object list of the logical device: an ordered mapping
Obis -> object. The "current association" 0.0.40.0.0.255 (Blue Book §4.4.3) is not stored: it
resolves to the association of the request.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from meter.codec.obis import Obis
from meter.cosem import (  # noqa: F401  (imported for their class registration)
    active_tariff,
    activity_calendar,
    alarms,
    association_ln,
    clock_sync,
    data,
    demand_register,
    disconnect_control,
    display,
    function_control,
    hdlc_setup,
    image_transfer,
    limiter,
    local_port_setup,
    port_protection,
    prepayment,
    profile_generic,
    push_setup,
    register,
    register_activation,
    register_monitor,
    sap_assignment,
    schedule,
    script_table,
    security_setup,
    single_action_schedule,
    special_days,
    tcp_udp_setup,
)
from meter.cosem.base import CLASSES, Context, CosemObject
from meter.cosem.clock import Clock
from meter.cosem.names import CLOCK, CURRENT_ASSOCIATION
from meter.errors import AccessError, DataAccessResult



def _all_classes() -> Iterator[type[CosemObject]]:
    todo = list(CosemObject.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        yield cls


def class_for(class_id: int) -> type[CosemObject] | None:
    """The Blue Book class of ``class_id``, or None if this meter has none."""
    return CLASSES.get(class_id)


def class_named(name: str) -> type[CosemObject]:
    """The class whose profile name is ``name`` ("register", "measurement_algorithm", ...)."""
    found = _BY_NAME.get(name)
    if found is not None:
        return found
    for cls in _all_classes():
        if cls.NAME == name:
            _BY_NAME[name] = cls  # classes never go away: a fleet builds meters by the thousand
            return cls
    raise KeyError(f"no COSEM class named {name!r}")


_BY_NAME: dict[str, type[CosemObject]] = {}


class ObjectDirectory:
    """The objects of one logical device, in the order they were added."""

    def __init__(self, objects: Iterable[CosemObject] = ()) -> None:
        self._objects: dict[Obis, CosemObject] = {}
        self._function_controls: list[function_control.FunctionControl] = []
        for obj in objects:
            self.add(obj)

    def add(self, obj: CosemObject) -> None:
        if obj.logical_name in self._objects:
            raise ValueError(f"duplicate logical name {obj.logical_name}")
        self._objects[obj.logical_name] = obj
        if isinstance(obj, function_control.FunctionControl):
            self._function_controls.append(obj)

    def refusal(self, obis: Obis) -> str | None:
        """Why SET and ACTION on ``obis`` are refused now (a Function control disabled its
        function), or None."""
        for control in self._function_controls:
            why = control.refusal(obis)
            if why is not None:
                return why
        return None

    def get(self, obis: Obis) -> CosemObject | None:
        return self._objects.get(obis)

    def __getitem__(self, obis: Obis) -> CosemObject:
        return self._objects[obis]

    def __contains__(self, obis: object) -> bool:
        return obis in self._objects

    def __iter__(self) -> Iterator[CosemObject]:
        return iter(self._objects.values())

    def __len__(self) -> int:
        return len(self._objects)

    def resolve(self, obis: Obis, ctx: Context) -> CosemObject:
        """The object ``obis`` names for this request, else object-undefined."""
        if obis == CURRENT_ASSOCIATION and ctx.association is not None:
            return ctx.association
        obj = self._objects.get(obis)
        if obj is None:
            raise AccessError(DataAccessResult.OBJECT_UNDEFINED, f"no object {obis}")
        return obj

    @property
    def clock(self) -> Clock:
        """The meter clock 0.0.1.0.0.255: what "meter time" means for every other object."""
        obj = self._objects.get(CLOCK)
        if not isinstance(obj, Clock):
            raise AccessError(DataAccessResult.OBJECT_UNAVAILABLE, "the meter has no clock")
        return obj
