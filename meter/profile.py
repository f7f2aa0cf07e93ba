"""Meter profiles (profiles/*.toml): identity, associations, keys and the object model, as data.

A profile may ``extends = "other.toml"``: tables merge key by key, ``[[object]]`` entries merge by
OBIS code and ``[[association]]`` entries by client SAP, so a variant states only what differs;
``remove = ["obis", ...]`` drops inherited objects.
Typed values are one-key tables naming the A-XDR type (see profiles/acesm.toml); ``@ldn``,
``@serial`` and ``@firmware`` in a string stand for the meter's identity.
"""

from __future__ import annotations

import site
import sysconfig
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meter.codec import axdr
from meter.codec.obis import Obis
from meter.errors import MeterError

#: Where bundled profiles are looked up by name: the source tree (a checkout or an editable
#: install), then the data directory of an installed meter (pyproject's data-files), system-wide
#: or per user.
PROFILE_DIRS = (
    Path(__file__).resolve().parent.parent / "profiles",
    Path(sysconfig.get_path("data")) / "share" / "acesm-meter" / "profiles",
    Path(site.getuserbase()) / "share" / "acesm-meter" / "profiles",
)
ROLES = ("public", "reader", "management")


class ProfileError(MeterError):
    """A profile that cannot be loaded; the message names the entry."""


@dataclass(frozen=True, slots=True)
class AssociationSpec:
    name: str
    client_sap: int
    obis: Obis
    role: str
    mechanism: int
    context: int
    secret: bytes
    security_setup: Obis | None
    protection: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    obis: Obis
    kind: str  # the class's profile name, e.g. "register"
    read: str
    write: str
    methods: str
    options: Mapping[str, Any]  # everything else of the entry (class-specific)


@dataclass(frozen=True, slots=True)
class Profile:
    path: Path
    meter: Mapping[str, Any]
    keys: Mapping[str, bytes]
    tcp: Mapping[str, Any]
    hdlc: Mapping[str, Any]
    associations: tuple[AssociationSpec, ...]
    objects: tuple[ObjectSpec, ...]
    metrology: Mapping[str, Any] = field(default_factory=dict)
    limits: Mapping[str, Any] = field(default_factory=dict)  # [limits]: bounds on outside input

    @property
    def ldn(self) -> bytes:
        return (str(self.meter["manufacturer"]) + str(self.meter["serial"])).encode("ascii")

    @property
    def system_title(self) -> bytes:
        return bytes.fromhex(str(self.meter["system_title"]))

    def substitute(self, text: str) -> str:
        return (text.replace("@ldn", self.ldn.decode())
                .replace("@serial", str(self.meter["serial"]))
                .replace("@firmware", str(self.meter.get("firmware", ""))))


def resolve(name: str | Path) -> Path:
    """A profile path, or a bare name looked up in the bundled profiles/ folder."""
    p = Path(name)
    if p.exists():
        return p
    for folder in PROFILE_DIRS:
        for candidate in (folder / p, folder / f"{p}.toml"):
            if candidate.exists():
                return candidate
    raise ProfileError(f"no profile {name!r} (looked in {', '.join(map(str, PROFILE_DIRS))})")


def _merge_list(base: list[Any], over: list[Any], key: str) -> list[Any]:
    merged = {str(e.get(key)): dict(e) for e in base}
    for e in over:
        k = str(e.get(key))
        merged[k] = _merge(merged.get(k, {}), e)
    return list(merged.values())


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(dict(out[k]), v)
        elif k == "object" and isinstance(v, list):
            out[k] = _merge_list(out.get(k, []), v, "obis")
        elif k == "association" and isinstance(v, list):
            out[k] = _merge_list(out.get(k, []), v, "client_sap")
        else:
            out[k] = v
    return out


def _read(path: Path, depth: int = 0) -> dict[str, Any]:
    if depth > 8:
        raise ProfileError(f"{path}: 'extends' nests too deeply")
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"{path}: {exc}") from exc
    parent = data.pop("extends", None)
    removed = data.pop("remove", [])
    if parent is None:
        if removed:
            raise ProfileError(f"{path}: 'remove' needs 'extends'")
        return data
    return _remove(_merge(_read(path.parent / parent, depth + 1), data), removed, path)


def _remove(data: dict[str, Any], removed: object, path: Path) -> dict[str, Any]:
    """Drop the inherited objects listed in ``remove`` (a merge by OBIS can only add or change)."""
    if not isinstance(removed, list):
        raise ProfileError(f"{path}: 'remove' is a list of OBIS codes")
    gone = {_obis(r, f"{path}: remove") for r in removed}
    objects = data.get("object", [])
    present = {_obis(o.get("obis"), f"{path}: object") for o in objects}
    if gone - present:  # a typo would silently keep the object
        raise ProfileError(f"{path}: remove names objects not in the profile: "
                           f"{', '.join(sorted(str(o) for o in gone - present))}")
    data["object"] = [o for o in objects if _obis(o.get("obis"), "object") not in gone]
    return data


def _obis(text: object, where: str) -> Obis:
    try:
        return Obis.parse(str(text))
    except MeterError as exc:
        raise ProfileError(f"{where}: {exc}") from exc


def _role(value: object, where: str) -> str:
    role = str(value)
    if role != "none" and role not in ROLES:
        raise ProfileError(f"{where}: unknown role {role!r} (one of {ROLES} or 'none')")
    return role


def load(name: str | Path) -> Profile:
    path = resolve(name)
    data = _read(path)
    try:
        meter = data["meter"]
        keys = {k: bytes.fromhex(v) for k, v in data.get("keys", {}).items()}
        associations = tuple(
            AssociationSpec(
                name=str(a["name"]),
                client_sap=int(a["client_sap"]),
                obis=_obis(a["obis"], f"association {a.get('name')}"),
                role=_role(a.get("role", "public"), f"association {a.get('name')}"),
                mechanism=int(a.get("mechanism", 0)),
                context=int(a.get("context", 1)),
                secret=str(a.get("secret", "")).encode("latin-1"),
                security_setup=_obis(a["security_setup"], "association") if "security_setup" in a else None,
                protection=tuple(a.get("protection", ())),
            )
            for a in data.get("association", [])
        )
        objects = []
        for o in data.get("object", []):
            where = f"object {o.get('obis')}"
            options = {k: v for k, v in o.items()
                       if k not in ("obis", "class", "read", "write", "methods")}
            objects.append(ObjectSpec(
                obis=_obis(o["obis"], where),
                kind=str(o["class"]),
                read=_role(o.get("read", "management"), where),
                write=_role(o.get("write", "none"), where),
                methods=_role(o.get("methods", "none"), where),
                options=options,
            ))
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileError(f"{path}: missing or bad entry: {exc}") from exc
    return Profile(path, meter, keys, data.get("tcp", {}), data.get("hdlc", {}), associations,
                   tuple(objects), data.get("metrology", {}), data.get("limits", {}))


# --- typed values ------------------------------------------------------------------------------

_SIMPLE: dict[str, type[axdr.Data]] = {
    "boolean": axdr.Boolean,
    "integer": axdr.Integer,
    "long": axdr.Long,
    "double_long": axdr.DoubleLong,
    "unsigned": axdr.Unsigned,
    "long_unsigned": axdr.LongUnsigned,
    "double_long_unsigned": axdr.DoubleLongUnsigned,
    "long64": axdr.Long64,
    "long64_unsigned": axdr.Long64Unsigned,
    "enum": axdr.Enum,
    "float32": axdr.Float32,
    "float64": axdr.Float64,
}


def typed_value(spec: Mapping[str, Any], profile: Profile, where: str) -> axdr.Data:
    """A Data value from its one-key table form, e.g. ``{ unsigned = 3 }``."""
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise ProfileError(f"{where}: a value is a one-key table naming its type")
    (kind, raw), = spec.items()
    try:
        if kind == "octet_string":
            return axdr.OctetString(profile.substitute(str(raw)).encode("utf-8"))
        if kind == "octet_string_hex":
            return axdr.OctetString(bytes.fromhex(str(raw)))
        if kind == "visible_string":
            return axdr.VisibleString(profile.substitute(str(raw)).encode("ascii"))
        if kind == "utf8_string":
            return axdr.Utf8String(profile.substitute(str(raw)))
        if kind == "null":
            return axdr.NULL
        cls = _SIMPLE[kind]
        return cls(raw)  # type: ignore[call-arg]
    except (KeyError, ValueError, MeterError) as exc:
        raise ProfileError(f"{where}: bad value {spec!r}: {exc}") from exc
