"""Meter profiles (profiles/*.toml): identity, associations, keys and the object model, as data.

A profile may ``extends = "other.toml"``: tables merge key by key, ``[[object]]`` entries merge by
OBIS code and ``[[association]]`` entries by client SAP, so a variant states only what differs;
``remove = ["obis", ...]`` drops inherited objects.
Typed values are one-key tables naming the A-XDR type (see profiles/acesm.toml); ``@ldn``,
``@serial`` and ``@firmware`` in a string stand for the meter's identity.
"""

from __future__ import annotations

import re
import site
import sysconfig
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meter.codec import axdr
from meter.codec.obis import Obis
from meter.errors import MeterError
from meter.profile_schema import ROLES, Problem, validate

#: Where bundled profiles are looked up by name: the source tree (a checkout or an editable
#: install), then the data directory of an installed meter (pyproject's data-files), system-wide
#: or per user.
PROFILE_DIRS = (
    Path(__file__).resolve().parent.parent / "profiles",
    Path(sysconfig.get_path("data")) / "share" / "acesm-meter" / "profiles",
    Path(site.getuserbase()) / "share" / "acesm-meter" / "profiles",
)


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


def bundled() -> list[str]:
    """Names of the profiles that come with the meter."""
    return sorted({p.stem for folder in PROFILE_DIRS if folder.is_dir() for p in folder.glob("*.toml")})


def resolve(name: str | Path) -> Path:
    """A profile path, or a bare name looked up in the bundled profiles/ folder."""
    p = Path(name)
    if p.is_file():
        return p
    for folder in PROFILE_DIRS:
        for candidate in (folder / p, folder / f"{p}.toml"):
            if candidate.is_file():
                return candidate
    raise ProfileError(f"no profile {str(name)!r}: not a file, nor a bundled profile "
                       f"({', '.join(bundled())})")


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


def _read(path: Path, files: list[Path], depth: int = 0) -> dict[str, Any]:
    """The profile at ``path`` merged over what it extends; ``files`` gets every file read."""
    if depth > 8:
        raise ProfileError(f"{path}: 'extends' nests too deeply")
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"{path}: {exc}") from exc
    files.append(path)
    parent = data.pop("extends", None)
    removed = data.pop("remove", [])
    if parent is None:
        if removed:
            raise ProfileError(f"{path}: 'remove' needs 'extends'")
        return data
    if not isinstance(parent, str):
        raise ProfileError(f"{path}: 'extends' is a bundled profile name or a path, not {parent!r}")
    # A file beside this one, else a bundled profile by name (extends = "acesm").
    beside = path.parent / parent
    base = _read(beside if beside.is_file() else resolve(parent), files, depth + 1)
    return _remove(_merge(base, data), removed, path)


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


# --- validation against meter/profile_schema.py, reported by file and line ---------------------

_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([\w.-]+)\s*\]\]")
_HEADER = re.compile(r"^\s*\[\s*([\w.\"-]+)\s*\]")
_KEY = re.compile(r"^\s*\"?([\w-]+)\"?\s*=\s*\"?([^\"#]*)")
_ENTRY_ID = {"object": "obis", "association": "client_sap"}  # what merges entries, names them


def key_lines(text: str) -> dict[tuple[str, str | None], int]:
    """(section, key) -> line number in a profile's text, sections named as schema Problems name
    them (``meter``, ``object[OBIS]``, ``association[SAP]``); key None: the table's header.
    tomllib keeps no positions: a scan of headers and ``key =`` lines is enough for TOML as the
    profiles write it."""
    found: dict[tuple[str, str | None], int] = {}
    section, entry = "", ""  # entry: an array table's name while inside one
    entry_keys: dict[str, int] = {}
    entry_id, entry_line = "", 0

    def close_entry() -> None:
        if entry:
            name = f"{entry}[{entry_id}]"
            found.setdefault((name, None), entry_line)
            for key, number in entry_keys.items():
                found.setdefault((name, key), number)

    for number, line in enumerate(text.splitlines(), 1):
        if (m := _ARRAY_HEADER.match(line)) is not None:
            close_entry()
            entry, entry_keys, entry_id, entry_line = m[1], {}, "", number
        elif (m := _HEADER.match(line)) is not None:
            close_entry()
            entry, section = "", m[1].replace('"', "")
            found.setdefault((section, None), number)
        elif (m := _KEY.match(line)) is not None:
            if not entry:
                found.setdefault((section, m[1]), number)
                continue
            entry_keys.setdefault(m[1], number)
            if m[1] == _ENTRY_ID.get(entry):
                entry_id = m[2].strip()
    close_entry()
    return found


def _where(problem: Problem, files: list[Path]) -> str:
    """``FILE:LINE`` of the key a problem is about: the file that states it last (child first)."""
    for wanted in ((problem.section, problem.key), (problem.section, None)):
        for path in files:
            line = key_lines(path.read_text(encoding="utf-8")).get(wanted)
            if line is not None:
                return f"{path}:{line}"
    return str(files[0])


_ENTRY = re.compile(r"^(\w+)\[(.*)\]$")


def _section_name(section: str) -> str:
    """``object[1.0.1.8.0.255]`` -> ``[[object]] 1.0.1.8.0.255``, ``meter`` -> ``[meter]``."""
    if (m := _ENTRY.match(section)) is not None:
        return f"[[{m[1]}]] {m[2]}"
    return f"[{section}]" if section else ""


def _report(problems: list[Problem], files: list[Path]) -> str:
    lines = []
    for p in problems:
        what = " ".join(filter(None, (_section_name(p.section), p.key)))
        lines.append(f"{_where(p, files)}: {what}: {p.message}")
    count = f"{len(problems)} error{'s' if len(problems) > 1 else ''}"
    return f"profile {files[0]}: {count}\n" + "\n".join(lines)


def files(name: str | Path) -> list[Path]:
    """The files profile ``name`` is read from: itself first, then what it ``extends``."""
    read: list[Path] = []
    _read(resolve(name), read)
    return read


def load(name: str | Path) -> Profile:
    """The profile ``name`` (a path or a bundled name), merged and validated as a whole: every
    problem is reported at once, with its file and line (ProfileError)."""
    path = resolve(name)
    files: list[Path] = []
    data = _read(path, files)
    problems = validate(data)
    if problems:
        raise ProfileError(_report(problems, files))
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

#: Each type takes its Python value as its one constructor argument.
_SIMPLE: dict[str, Callable[[Any], axdr.Data]] = {
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
        return _SIMPLE[kind](raw)
    except (KeyError, ValueError, MeterError) as exc:
        raise ProfileError(f"{where}: bad value {spec!r}: {exc}") from exc
