"""Script table (class_id 9, version 0; Blue Book §4.5.2) and the one "execute script" path.

Attribute 2 scripts: array of {script_identifier long-unsigned, actions: array of {service_id
enum (1 write attribute, 2 execute method), class_id long-unsigned, logical_name
octet-string(6), index integer, parameter CHOICE}}; method 1 execute(long-unsigned script id)
(cosem-reference.md, Script table; [GX-PY ScriptActionType]).

A script's actions run with the meter's own authority (an internal context): who may run the
script at all is the right on method 1 (a head end) or the meter itself (a single action
schedule). A script may also carry meter behaviour no COSEM service expresses (closing a billing
period increments its counter): the profile marks the script with the step's key
(``closes_billing``), the device supplies the step (``ProfileEntry.script_steps``), and it runs
after the listed actions.
"""

from __future__ import annotations

from collections.abc import Callable

from meter.codec.axdr import Array, Data, Enum, Integer, LongUnsigned, OctetString, Structure
from meter.codec.obis import Obis
from meter.cosem.base import (
    Attr, Context, CosemObject, Method, bad_type, expect, fields, integer, items, on_action,
    on_set)
from meter.cosem.profile_entry import OptionError, ProfileEntry
from meter.errors import AccessError, DataAccessResult, EncodeError

#: service_id of a script action.
WRITE_ATTRIBUTE, EXECUTE_METHOD = 1, 2
SERVICES = {"write": WRITE_ATTRIBUTE, "execute": EXECUTE_METHOD}

ScriptStep = Callable[[Context], None]


def action(service: int, class_id: int, obis: Obis, index: int, parameter: Data) -> Structure:
    """One row of a script's actions."""
    return Structure((Enum(service), LongUnsigned(class_id), OctetString(obis.to_bytes()),
                      Integer(index), parameter))


def _check_action(value: Data) -> None:
    service, class_id, name, index, _ = fields(value, 5, "script action")
    if expect(service, Enum, "service_id").value not in (WRITE_ATTRIBUTE, EXECUTE_METHOD):
        raise bad_type("service_id")
    expect(class_id, LongUnsigned, "class_id")
    if len(expect(name, OctetString, "logical_name").value) != 6:
        raise bad_type("logical_name")
    expect(index, Integer, "index")


def run_action(value: Data, ctx: Context) -> None:
    """Write an attribute or call a method of an object of the directory, as the meter."""
    service, class_id, name, index, parameter = fields(value, 5, "script action")
    target = ctx.directory.get(Obis.from_bytes(expect(name, OctetString, "logical_name").value))
    if target is None or target.CLASS_ID != integer(class_id, "class_id"):
        raise AccessError(DataAccessResult.OBJECT_UNDEFINED, "script action: no such object")
    internal = ctx.internal()
    if integer(service, "service_id") == WRITE_ATTRIBUTE:
        target.set(integer(index, "index"), parameter, internal)
    else:
        target.action(integer(index, "index"), parameter, internal)


class ScriptTable(CosemObject):
    CLASS_ID = 9
    VERSION = 0
    NAME = "script_table"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "scripts", Array, default=Array(())),
    )
    METHODS = (Method(1, "execute"),)

    @classmethod
    def from_profile(cls, entry: ProfileEntry) -> ScriptTable:
        """scripts = [{ id, actions = [{ service = execute|write, obis, index, parameter }] }];
        a script may also carry a meter step by its key (``closes_billing = true``)."""
        table = cls(entry.obis, **cls.profile_values(entry))
        for script in entry.options.get("scripts", ()):
            for key, step in entry.script_steps.items():
                if script.get(key):
                    table.set_script_step(int(script["id"]), step)
        return table

    @classmethod
    def profile_values(cls, entry: ProfileEntry) -> dict[str, Data]:
        """The scripts attribute; each action's class id is its target's."""
        out = []
        try:
            for script in entry.options.get("scripts", ()):
                actions = []
                for a in script.get("actions", ()):
                    target = Obis.parse(str(a["obis"]))
                    class_id = entry.class_id_of(target)
                    if class_id is None:
                        raise OptionError(f"script action target {target} is not in the profile")
                    parameter = entry.typed_value(a["parameter"]) if "parameter" in a else Integer(0)
                    actions.append(action(SERVICES[a["service"]], class_id, target,
                                          int(a["index"]), parameter))
                out.append(Structure((LongUnsigned(int(script["id"])), Array(tuple(actions)))))
        except (KeyError, ValueError, TypeError, AttributeError, EncodeError) as exc:
            raise OptionError(f"scripts are {{ id, actions = [{{ service = execute|write, obis, "
                              f"index, parameter }}] }}: {exc!r}") from None
        return {**super().profile_values(entry), "scripts": Array(tuple(out))}

    def __init__(self, logical_name: Obis, **values: Data) -> None:
        super().__init__(logical_name, **values)
        self._steps: dict[int, ScriptStep] = {}

    def set_script_step(self, script_id: int, step: ScriptStep) -> None:
        """Meter behaviour run after script ``script_id``'s actions."""
        self._steps[script_id] = step

    @on_set("scripts")
    def write_scripts(self, value: Data, ctx: Context) -> None:
        for script in expect(value, Array, "scripts").items:
            script_id, actions = fields(script, 2, "script")
            expect(script_id, LongUnsigned, "script_identifier")
            for a in expect(actions, Array, "actions").items:
                _check_action(a)
        self.store("scripts", value)

    @on_action("execute")
    def execute(self, parameters: Data | None, ctx: Context) -> None:
        """Run script ``parameters`` (long-unsigned); an unknown id is other-reason."""
        self.run(expect(parameters, LongUnsigned, "script id").value, ctx)

    def run(self, script_id: int, ctx: Context) -> None:
        """The one execute-script path: a head end's execute and a schedule's run come here."""
        for script in self.items("scripts"):
            sid, actions = items(script, "script")
            if integer(sid, "script_identifier") == script_id:
                for a in items(actions, "actions"):
                    run_action(a, ctx)
                step = self._steps.get(script_id)
                if step is not None:
                    step(ctx.internal())
                return
        raise AccessError(DataAccessResult.OTHER_REASON, f"no script {script_id}")
