"""Where the repository, its profiles, its tools and the shared reference data are."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools"
PROFILE = ROOT / "profiles" / "acesm.toml"
#: The project's shared reference material lives beside the checkout (``../shared``), not in it.
SHARED = ROOT.parent / "shared"
METROLOGY_VECTORS = SHARED / "vectors" / "metrology.json"


def absent_reason(path: Path) -> str:
    """The skip reason for a test whose shared data file is not beside this checkout."""
    return f"shared reference data not found: {path} (expected beside the checkout, in ../shared)"
