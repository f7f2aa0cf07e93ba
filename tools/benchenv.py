"""The benchmarks' own virtual environment (not a test helper; tools/bench* import it first).

Speed is measured on the default install (``pip install .``, not editable, no extras), the one
the README's first command makes, so a benchmark never depends on whichever venv happens to be
active: it makes ``.venv-bench`` beside the project once, reinstalls when the sources change, and
runs itself again with that venv's interpreter. The meter then runs from that install, not from
the source tree.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-bench"
_SOURCES = ("pyproject.toml", "meter", "profiles")


def _sources_digest() -> str:
    """Hash of what ``pip install .`` packs: a changed source means a reinstall."""
    digest = hashlib.sha1()
    for top in _SOURCES:
        path = ROOT / top
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for f in files:
            if f.is_file() and "__pycache__" not in f.parts:
                digest.update(str(f.relative_to(ROOT)).encode())
                digest.update(f.read_bytes())
    return digest.hexdigest()[:12]


def in_bench_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def ensure() -> None:
    """Re-exec the running benchmark under .venv-bench (made and installed on demand)."""
    if in_bench_venv():
        return
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    stamp = VENV / f".installed-{_sources_digest()}"
    if not stamp.exists():
        print(f"installing the meter into {VENV} (pip install .) ...", file=sys.stderr, flush=True)
        for old in VENV.glob(".installed-*"):
            old.unlink()
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
                       check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(ROOT)], check=True)
        stamp.touch()
    script = os.path.abspath(sys.argv[0])
    os.execv(str(python), [str(python), script, *sys.argv[1:]])


def meter_command() -> list[str]:
    """The installed console script of the bench venv (never ``-m meter.cli`` from the tree)."""
    return [str(Path(sys.executable).parent / "acesm-meter")]
