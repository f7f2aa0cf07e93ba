"""The object catalogue of a profile: what a head end maps (OBIS, class, version, name, unit) and
what each association may read, write and call, straight from the profile.

The rights are computed by the code the meter serves with (meter/device/build.py), so the
catalogue cannot drift from the object_list a client reads. An object's name is the comment on
its entry's ``obis = "..."`` line (the profile's own description; the last file of an
``extends`` chain that gives one wins). ``acesm-meter profile objects`` prints it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from meter.codec.obis import Obis
from meter.cosem.association_ln import AssociationLN, Rights
from meter.cosem.base import AccessMode, CosemObject, MethodAccessMode
from meter.cosem.names import CURRENT_ASSOCIATION
from meter.device import build
from meter.profile import ObjectSpec, Profile, files
from meter.security.hls import Mechanism

__all__ = ["Entry", "access_text", "catalogue", "render"]

#: scaler_unit's unit enum -> symbol (Blue Book 4.3.2; shared/design/cosem-reference.md §2.3).
UNITS = {1: "year", 2: "month", 3: "week", 4: "day", 5: "h", 6: "min", 7: "s", 8: "°", 9: "°C",
         10: "currency", 27: "W", 28: "VA", 29: "var", 30: "Wh", 31: "VAh", 32: "varh", 33: "A",
         35: "V", 44: "Hz", 48: "V²h", 49: "A²h", 56: "%", 57: "Ah", 70: "dBm", 72: "dB",
         254: "other", 255: "no unit"}
_OBIS_LINE = re.compile(r'^\s*obis\s*=\s*"([^"]+)"\s*#\s*(.+?)\s*$')


@dataclass(frozen=True, slots=True)
class Entry:
    obis: str
    class_id: int
    class_name: str  # the class's name in profiles
    version: int
    name: str  # "" when the profile gives none
    unit: str | None  # scaler_unit's unit, where the profile gives one
    scaler: int | None
    #: association name -> what it may do ("r w2,4 a1"); absent: the object is invisible to it.
    access: Mapping[str, str]


def catalogue(profile: Profile) -> list[Entry]:
    """Every object of ``profile`` in object_list order: its entries, then the associations and
    the current association (0.0.40.0.0.255, which each client reads as its own)."""
    built = _objects(profile)
    rights: dict[str, Rights] = {}
    for a in profile.associations:
        own = built[a.obis][1]
        assert isinstance(own, AssociationLN)
        rights[a.name] = build.rights_for(a, built)
        rights[a.name][a.obis] = rights[a.name][CURRENT_ASSOCIATION] = \
            build.own_association_rights(a, own)
    order = [*(s.obis for s in profile.objects), *(a.obis for a in profile.associations)]
    if profile.associations:
        # The current association is an Association LN like the others; its rights are each
        # client's own.
        built[CURRENT_ASSOCIATION] = built[profile.associations[0].obis]
        order.append(CURRENT_ASSOCIATION)
    names = _names(profile.path)
    entries = []
    for obis in order:
        spec, obj = built[obis]
        unit = spec.options.get("unit")
        entries.append(Entry(
            obis=str(obis), class_id=obj.CLASS_ID, class_name=obj.NAME, version=obj.VERSION,
            name=names.get(obis, _association_name(profile, obis)),
            unit=None if unit is None else UNITS.get(int(unit), str(unit)),
            scaler=None if unit is None else int(spec.options.get("scaler", 0)),
            access={who: access_text(obj, *r[obis]) for who, r in rights.items() if obis in r}))
    return entries


def _objects(profile: Profile) -> dict[Obis, tuple[ObjectSpec, CosemObject]]:
    """The profile's objects as the meter builds them, without live values or storage."""
    built: dict[Obis, tuple[ObjectSpec, CosemObject]] = {}
    # Profiles capture other objects, so they are built last.
    for spec in sorted(profile.objects, key=lambda s: s.kind == "profile_generic"):
        obj = build.build_object(spec, profile, {o: b for o, (_, b) in built.items()},
                                 lambda: 0.0, lambda _e, _a: None)
        built[spec.obis] = (spec, obj)
    for a in profile.associations:
        built[a.obis] = (build.association_entry(a), build.association_object(a, profile))
    return built


def _association_name(profile: Profile, obis: Obis) -> str:
    if obis == CURRENT_ASSOCIATION:
        return "current association (each client's own)"
    return next((f"association {a.name!r} (client SAP {a.client_sap})"
                 for a in profile.associations if a.obis == obis), "")


def _names(path: Path) -> dict[Obis, str]:
    """OBIS -> the comment on its ``obis = "..."`` line, the extending file's over its base's."""
    names: dict[Obis, str] = {}
    for file in reversed(files(path)):
        for line in file.read_text(encoding="utf-8").splitlines():
            if (m := _OBIS_LINE.match(line)) is not None:
                names[Obis.parse(m[1])] = m[2]
    return names


def access_text(obj: CosemObject, attrs: Mapping[int, AccessMode],
                methods: Mapping[int, MethodAccessMode]) -> str:
    """One association's rights on ``obj`` as the catalogue shows them ("r w2,4 a1")."""
    readable = [i for i, m in attrs.items() if m & AccessMode.READ]
    writable = [i for i, m in attrs.items() if m & AccessMode.WRITE]
    callable_ = [i for i, m in methods.items() if m & MethodAccessMode.ACCESS]
    parts = []
    if readable:
        parts.append("r" if len(readable) == len(obj.ATTRIBUTES) else "r" + _ranges(readable))
    if writable:
        parts.append("w" + _ranges(writable))
    if callable_:
        parts.append("a" + _ranges(callable_))
    return " ".join(parts) or "-"


def _ranges(indices: list[int]) -> str:
    """[1, 2, 3, 5] -> "1-3,5"."""
    out: list[str] = []
    for i in sorted(indices):
        if out and i == int(out[-1].split("-")[-1]) + 1:
            out[-1] = f"{out[-1].split('-')[0]}-{i}"
        else:
            out.append(str(i))
    return ",".join(out)


def render(profile: Profile, entries: list[Entry], fmt: str) -> str:
    """The catalogue as ``fmt`` text: "md" (Markdown), "csv" or "json"."""
    if fmt == "json":
        return json.dumps([asdict(e) for e in entries], indent=1, ensure_ascii=False) + "\n"
    who = [a.name for a in profile.associations]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["obis", "class_id", "class", "version", "name", "unit", "scaler", *who])
        for e in entries:
            writer.writerow([e.obis, e.class_id, e.class_name, e.version, e.name, e.unit or "",
                             "" if e.scaler is None else e.scaler,
                             *(e.access.get(w, "") for w in who)])
        return out.getvalue()
    return _markdown(profile, entries, who)


def _markdown(profile: Profile, entries: list[Entry], who: list[str]) -> str:
    stem = profile.path.stem
    lines = [
        f"# Objects of the `{stem}` profile",
        "",
        (f"Generated from `{profile.path.name}` by `acesm-meter profile objects {stem} "
         f"> profiles/{stem}.objects.md`; do not edit (a test fails when it is stale)."),
        "",
        ("Access per association: `r` reads every attribute (`r1-6` only those), `w2,4` writes "
         "those attributes, `a1` calls those methods, `-` sees the object but may do nothing "
         "with it; a blank cell: the object is not in that association's object_list. Ciphered "
         "associations need their protection on every request (below)."),
        "",
        "| client SAP | association | mechanism | protection |",
        "|---|---|---|---|",
    ]
    lines += [f"| {a.client_sap} | {a.name} | {a.mechanism} {Mechanism(a.mechanism).name} | "
              f"{', '.join(a.protection) or '-'} |"
              for a in profile.associations]
    lines += ["", "| OBIS | class | v | name | unit | " + " | ".join(who) + " |",
              "|---|---|---|---|---|" + "---|" * len(who)]
    for e in entries:
        unit = "" if e.unit is None else e.unit if not e.scaler else f"{e.unit} ×10^{e.scaler}"
        cells = [e.obis, f"{e.class_id} {e.class_name}", str(e.version), e.name.replace("|", "/"),
                 unit, *(e.access.get(w, "") for w in who)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
