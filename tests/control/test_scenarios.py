"""Scenarios (issue 12 item 2): the three shipped timelines parse; the stormy day runs on a
device in process (a fake clock taken to each due time: no sleeping) with every expectation met,
and on a served meter (`serve --scenario` at a day per 24 real seconds) reported through the
control API and its metrics; bad files are refused with the step named, and garbage never gets
past the parser as anything but a TimelineError."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.meter import Meter
from support.paths import ROOT
from support.process import MeterProcess, meter_process

from meter.control import Client
from meter.codec.obis import Obis
from meter.control.ops import Operations
from meter.control.timeline import MAX_OCCURRENCES, Run, Timeline, TimelineError

SCENARIOS = ROOT / "tools" / "scenarios"
STORMY = SCENARIOS / "stormy-day.toml"


def run_through(meter: Meter, text: str) -> Run:
    """The scenario run to its end on the meter's fake clock, each step at its due time."""
    tb = meter.timebase
    run = Run(Timeline.parse(text), tb.now(), Operations(lambda: meter.device, tb).run)  # type: ignore[arg-type]
    while (due := run.next_due()) is not None:
        tb.t = max(tb.t, due)
        run.run_due(tb.now)
    return run


@pytest.mark.parametrize("name", ["stormy-day", "tamper-night", "tou-month"])
def test_the_shipped_scenarios_parse(name: str) -> None:
    timeline = Timeline.parse((SCENARIOS / f"{name}.toml").read_text(), name)
    assert timeline.steps and any(s.action == "expect" for s in timeline.steps)


def test_the_stormy_day_runs_with_every_expectation_met(meter: Meter) -> None:
    run = run_through(meter, STORMY.read_text())
    status = run.status()
    assert status["done"] and status["errors"] == 0
    assert status["expectations"] == {"passed": 3, "failed": 0}
    # 8 lightning strikes, 12 sags, the long outage, 3 checks
    assert status["steps_run"] == 8 + 12 + 1 + 3
    assert meter.device.t - run.start >= 23.5 * 3600


def test_the_tamper_night_runs_and_the_fraud_log_holds_its_edges(meter: Meter) -> None:
    run = run_through(meter, (SCENARIOS / "tamper-night.toml").read_text())
    status = run.status()
    assert status["done"] and status["errors"] == 0
    assert status["expectations"]["failed"] == 0 and status["expectations"]["passed"] >= 1
    device = meter.device
    rows = device.directory[Obis.parse("0.0.99.98.1.255")].get(2, device.context(None)).to_python()
    codes = [row[1] for row in rows]
    # terminal cover removed 40, strong DC field 42, cover closed 41, field gone 43 (IDIS)
    assert codes[-4:] == [40, 42, 41, 43], codes


def test_a_failed_expectation_is_counted_not_fatal(meter: Meter) -> None:
    run = run_through(meter, '''
[[step]]
at = "1m"
do = "expect"
obis = "1.0.32.7.0.255"
scaled = true
value = 110
tolerance = 1
[[step]]
at = "2m"
do = "tamper"
kind = "cover"
[[step]]
at = "3m"
do = "expect"
obis = "1.0.32.7.0.255"
scaled = true
op = ">"
value = 200
''')
    assert (run.passed, run.failed, run.errors) == (1, 1, 1)
    assert [r["outcome"] for r in run.results] == ["failed", "error", "passed"]
    assert run.results[0]["result"]["actual"] == pytest.approx(230, abs=1)


def test_a_jump_makes_the_steps_it_passes_due_in_order(meter: Meter) -> None:
    run = run_through(meter, '''
[[step]]
every = "1h"
until = "3h"
do = "jump"
by = "1h"
[[step]]
at = "4h"
do = "expect"
obis = "1.0.99.1.0.255"
attribute = 7
op = ">="
value = 16
''')
    assert [r["do"] for r in run.results] == ["jump"] * 4 + ["expect"]
    assert run.passed == 1


@pytest.mark.parametrize(("text", "says"), [
    ("", "no [[step]]"),
    ("[[step]]\ndo = 'outage'\n", "needs `at` or `every`"),
    ("[[step]]\nat = 1\nevery = 2\ndo = 'outage'\n", "not both"),
    ("[[step]]\nat = '1 fortnight'\ndo = 'outage'\n", "step 1: at"),
    ("[[step]]\nat = 1\ndo = 'outage'\n[[step]]\nat = 2\ndo = 'launch'\n", "step 2: do = one of"),
    ("[[step]]\nevery = 0\ndo = 'jump'\n", "every must be more than 0"),
    ("[[step]]\nevery = 10\nfrom = 20\nuntil = 5\ndo = 'jump'\n", "times run forward"),
    ("step = 3\n", "no [[step]]"),
])
def test_bad_scenarios_say_where(text: str, says: str) -> None:
    with pytest.raises(TimelineError, match=says.replace("[", r"\[").replace("`", "`")):
        Timeline.parse(text, "f.toml")


def test_a_repeated_step_without_an_end_is_bounded() -> None:
    timeline = Timeline.parse("[[step]]\nevery = 1\ndo = 'time'\n")
    assert timeline.steps[0].times() == MAX_OCCURRENCES


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_garbage_is_refused_cleanly(text: str) -> None:
    try:
        Timeline.parse(text)
    except TimelineError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["at", "every", "from", "until", "do", "by"]),
                       st.one_of(st.integers(-10, 10**6), st.floats(allow_nan=True),
                                 st.text(max_size=8), st.booleans(),
                                 st.sampled_from(["outage", "jump", "1h", "-5m", "2d3h"]))))
def test_any_step_table_parses_or_is_refused_cleanly(step: dict[str, object]) -> None:
    import tomllib

    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(repr(v), repr(v))
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return str(v)

    text = "[[step]]\n" + "".join(f"{k} = {value(v)}\n" for k, v in step.items())
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return  # hypothesis wrote something TOML cannot say; not the parser's business
    try:
        timeline = Timeline.parse(text)
    except TimelineError:
        return
    s = timeline.steps[0]
    assert s.at >= 0 and (s.every is None or s.every > 0) and 1 <= s.times() <= MAX_OCCURRENCES


def test_serve_runs_a_scenario_on_its_own_time(tmp_path: Path) -> None:
    with meter_process(tmp_path / "state", "--tcp", "127.0.0.1:0", "--control", "127.0.0.1:0",
                       "--time-scale", "3600", "--scenario", str(STORMY)) as process:
        host, port = process.address("control")
        client = Client(f"http://{host}:{port}")
        deadline = time.monotonic() + 120
        while not (status := client.scenario())["done"]:
            assert time.monotonic() < deadline, status
            time.sleep(0.5)
        assert status["name"] == "stormy day"
        assert status["expectations"] == {"passed": 3, "failed": 0}, [
            r for r in status["results"] if r["outcome"] != "done"]
        assert status["errors"] == 0
        metrics = client.metrics()
        assert 'acesm_scenario_expectations_total{profile="acesm",result="passed"} 3' in metrics
        assert "scenario stormy day done" in process.log_text()


def test_serve_refuses_a_bad_scenario_before_it_starts(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[step]]\nat = 1\ndo = 'fly'\n")
    (tmp_path / "state").mkdir()
    process = MeterProcess(tmp_path / "state", "--tcp", "127.0.0.1:0", "--scenario", str(bad))
    assert process.finish() == 1
    assert "step 1: do = one of" in process.log_text()
    assert "Traceback" not in process.log_text()


def test_a_scenario_loads_through_the_api(tmp_path: Path) -> None:
    with meter_process(tmp_path / "state", "--tcp", "127.0.0.1:0",
                       "--control", "127.0.0.1:0") as process:
        host, port = process.address("control")
        client = Client(f"http://{host}:{port}")
        assert client.scenario() is None
        started = client.load_scenario(
            '[[step]]\nat = 0\ndo = "jump"\nby = "1h"\n'
            '[[step]]\nat = "1h"\ndo = "expect"\nobis = "1.0.99.1.0.255"\nattribute = 7\n'
            'op = ">="\nvalue = 4\n')
        assert started["steps_run"] >= 1
        deadline = time.monotonic() + 30
        while not (status := client.scenario())["done"]:
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
        assert status["expectations"] == {"passed": 1, "failed": 0}


def test_a_step_the_meter_refuses_is_an_error_and_the_run_goes_on(meter: Meter) -> None:
    # the supply relay's mode 4 has no manual disconnection: the button is refused
    run = run_through(meter, '[[step]]\nat = 1\ndo = "button"\n'
                             '[[step]]\nat = 2\ndo = "time"\n')
    assert run.errors == 1 and "not allowed" in run.results[0]["error"]
    assert [r["outcome"] for r in run.results] == ["error", "done"]
