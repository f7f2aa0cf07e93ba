"""Where the repository, its profiles and its tools are."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "tools"
PROFILE = ROOT / "profiles" / "acesm.toml"
