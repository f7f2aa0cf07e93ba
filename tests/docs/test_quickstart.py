"""The README's "Connect a head end" scripts run as written (issue 13 item 4): each fenced
``python`` block of that part is run, with the installed gurux-dlms and dlms-cosem, against a real
``acesm-meter serve`` process. The only change is the port: the README's 4059 becomes the one the
test meter bound (tests never take a fixed port)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.paths import ROOT
from support.process import MeterProcess, meter_process

SECTION = "## Connect a head end"
README_PORT = "4059"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _section(text: str) -> str:
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start:] if end < 0 else text[start:end]


SNIPPETS = _BLOCK.findall(_section((ROOT / "README.md").read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def meter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeterProcess]:
    with meter_process(tmp_path_factory.mktemp("quickstart"), "--tcp", "127.0.0.1:0") as process:
        yield process


def test_the_part_has_a_script_for_each_client() -> None:
    assert len(SNIPPETS) == 2
    assert "gurux_dlms" in SNIPPETS[0] and "dlms_cosem" in SNIPPETS[1]
    assert all(f'"127.0.0.1", {README_PORT}' in s for s in SNIPPETS)


@pytest.mark.parametrize("index", range(len(SNIPPETS)), ids=["gurux-dlms", "dlms-cosem"])
def test_the_readme_script_runs_against_a_real_meter(meter: MeterProcess, index: int,
                                                     tmp_path: Path) -> None:
    script = tmp_path / "quickstart.py"
    script.write_text(SNIPPETS[index].replace(README_PORT, str(meter.port())), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    printed = [line for line in done.stdout.splitlines() if not line.startswith("20")]  # dlms-cosem logs
    assert any(line.startswith("clock ") for line in printed), done.stdout[-2000:]
    assert meter.proc.poll() is None
