"""The layering of meter/ (README "Layout", shared/design/style.md §3): a layer imports only
from layers below it, and only meter/timebase.py and the transports read the wall clock."""

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
    "profile_schema": set(),
    "profile": {"codec", "profile_schema"},
    "device": {"codec", "apdu", "security", "persistence", "cosem", "server", "stack", "metrology",
               "profile", "profile_schema", "link", "timebase"},
    "timebase": set(),
    "transport": {"stack", "device", "link", "timebase", "codec", "profile"},
    "cli": {"*"},
}
SANS_IO = {"codec", "apdu", "security", "link", "cosem", "server", "stack", "metrology"}
IO_MODULES = {"socket", "asyncio", "serial", "threading", "selectors"}


def _layer(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


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
