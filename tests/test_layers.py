"""The layering of meter/ (README "Layout", shared/design/style.md §3): a layer imports only
from layers below it (in every import form: ``import meter.x``, ``from meter.x import y``,
``from meter import x``, relative imports), and only meter/timebase.py and the transports read a
clock: everything else is given ``now``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "meter"

# package -> meter packages it may import (besides itself and meter.errors / meter.__init__)
ALLOWED: dict[str, set[str]] = {
    "codec": set(),
    "apdu": {"codec"},
    "security": {"codec"},
    "persistence": {"codec"},
    "link": {"codec"},
    "cosem": {"codec"},
    "metrology": set(),
    "server": {"codec", "apdu", "security", "cosem"},
    "stack": {"codec", "link", "server"},
    "profile_schema": {"apdu"},
    "profile": {"codec", "profile_schema"},
    "device": {"codec", "apdu", "security", "persistence", "cosem", "server", "stack", "metrology",
               "profile", "profile_schema", "link", "timebase"},
    "timebase": set(),
    "transport": {"stack", "device", "link", "timebase", "codec", "profile"},
    # the control API (serve --control): an edge beside the transports, below the command line
    "control": {"codec", "apdu", "security", "cosem", "metrology", "device", "timebase",
                "transport", "profile", "stack"},
    "cli": {"*"},
}
SANS_IO = {"codec", "apdu", "security", "link", "cosem", "server", "stack", "metrology"}
IO_MODULES = {"socket", "asyncio", "serial", "threading", "selectors"}


def _layer(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0].removesuffix(".py")


def _module(path: Path) -> str:
    """``meter/device/device.py`` -> ``meter.device.device`` (a package: its __init__)."""
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, at: Path | None = None) -> list[str]:
    """Every module ``path`` imports, absolute (relative ones as if it sat at ``at``);
    ``from pkg import name`` also names ``pkg.name`` (it may be a module: ``from meter import
    device``)."""
    tree = ast.parse(path.read_text(), str(path))
    at = at or path
    package = _module(at).split(".")
    if at.name != "__init__.py":
        package = package[:-1]
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names.append(module)
            names += [f"{module}.{a.name}" for a in node.names if a.name != "*"]
    return names


#: Clocks: reading one outside meter/timebase.py and the transports is a time source the
#: sans-IO cores and the device must be given instead.
CLOCK_READS = {"time.time", "time.time_ns", "time.monotonic", "time.monotonic_ns",
               "time.perf_counter", "time.perf_counter_ns", "time.localtime", "time.gmtime",
               "time.ctime", "time.asctime", "time.strftime", "datetime.datetime.now",
               "datetime.datetime.utcnow", "datetime.datetime.today", "datetime.date.today"}
CLOCK_READERS = {"timebase", "transport"}


def _clock_reads(path: Path) -> list[str]:
    """The clock functions ``path`` refers to, by their full names (through import aliases)."""
    tree = ast.parse(path.read_text(), str(path))
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    found = []
    for node in ast.walk(tree):
        chain: list[str] = []
        while isinstance(node, ast.Attribute):
            chain.insert(0, node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in aliases:
            full = ".".join([aliases[node.id], *chain])
            found += [c for c in CLOCK_READS if full == c or full.startswith(c + ".")]
    return found


FILES = sorted(p for p in ROOT.rglob("*.py") if p.parent != ROOT or p.name not in ("__init__.py", "errors.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_layer_imports(path: Path) -> None:
    layer = _layer(path)
    allowed = ALLOWED.get(layer)
    assert allowed is not None, f"{layer} is not in the layer table"
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] == "meter" and len(parts) > 1 and parts[1] not in ("errors", layer):
            assert "*" in allowed or parts[1] in allowed, f"{path.name}: {layer} imports {name}"
        if layer in SANS_IO:
            assert parts[0] not in IO_MODULES, f"{path.name}: sans-IO layer {layer} imports {name}"
            assert name != "time" or layer == "timebase", f"{path.name} reads the wall clock"
        if parts[0] in ("gurux_dlms", "dlms_cosem"):
            pytest.fail(f"{path.name} imports the test-only client {name}")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_clock_reads(path: Path) -> None:
    if _layer(path) not in CLOCK_READERS:
        assert not _clock_reads(path), f"{path.name} reads a clock: {_clock_reads(path)}"


def test_the_checks_see_every_form(tmp_path: Path) -> None:
    """The two checks above on a module written the ways that slip past simpler ones."""
    module = ROOT / "cosem" / "_probe.py"  # where it would sit (its package: meter.cosem)
    source = ("import datetime as dt\nfrom time import monotonic as mono\nfrom meter import device\n"
              "from .. import transport\nfrom ..server import services\n"
              "def f():\n    return dt.datetime.now(), mono()\n")
    probe = tmp_path / "_probe.py"
    probe.write_text(source)
    assert _module(module) == "meter.cosem._probe"
    imported = _imports(probe, module)
    assert {"meter.device", "meter.transport", "meter.server.services"} <= set(imported)
    assert sorted(_clock_reads(probe)) == ["datetime.datetime.now", "time.monotonic"]
