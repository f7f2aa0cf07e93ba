"""Every case of the shared metrology vectors, every expected value within its tolerance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from meter.metrology.evaluate import compare, evaluate_case, main
from meter.metrology.algorithms import AlgorithmMap

from support.paths import METROLOGY_VECTORS, absent_reason

# The vectors are shared data beside the checkout: where they are truly absent this module
# skips (with the path it looked at) instead of failing the collection of the whole suite.
# A present but broken file still fails.
if not METROLOGY_VECTORS.is_file():
    pytest.skip(absent_reason(METROLOGY_VECTORS), allow_module_level=True)
DOC: dict[str, Any] = json.loads(METROLOGY_VECTORS.read_text(encoding="utf-8"))
CASES = {c["id"]: c for c in DOC["cases"]}


def test_all_fifteen_cases_present() -> None:
    assert DOC["format"] == "metrology-vectors/1"
    assert len(CASES) == 15


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_case(case_id: str) -> None:
    case = CASES[case_id]
    algs = AlgorithmMap.from_data(DOC["dlms_measurement_algorithm_map"])
    measured = evaluate_case(case, algs)
    failures = compare(case["expected"], measured)
    assert not failures, "\n".join(failures)
    # every expected leaf was compared (compare reports missing keys as failures)
    assert set(case["expected"]) <= set(measured) | {"energy_block"}


def test_cli_check_passes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    small = dict(DOC, cases=[CASES["c02_1p60_pf05_lag"], CASES["c21_3p60_arith_vs_vector"]])
    path = tmp_path / "v.json"
    path.write_text(json.dumps(small), encoding="utf-8")
    assert main([str(path), "--check"]) == 0
    assert "2 cases, 0 failures" in capsys.readouterr().out
    assert main([str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["c21_3p60_arith_vs_vector"]["total"]["se"] == pytest.approx(4156.92193817, abs=0.72)
