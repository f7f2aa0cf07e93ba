"""`pip install . && acesm-meter serve` (the README's first command) on a machine without the
source tree: the wheel must carry the bundled profiles, and the meter must find them where pip
puts them (<prefix>/share/acesm-meter/profiles, see pyproject's data-files)."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from meter import profile

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `pip install .` builds and installs."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    (built,) = out.glob("*.whl")
    return built


def test_wheel_carries_every_profile(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {Path(n).name for n in names if "/data/share/acesm-meter/profiles/" in n}
    # Each profile with its generated object catalogue (acesm-meter profile objects).
    assert shipped == {p.name for pattern in ("*.toml", "*.objects.md")
                       for p in (ROOT / "profiles").glob(pattern)}


def test_installed_profiles_are_found_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    installed = Path(sysconfig.get_path("data")) / "share" / "acesm-meter" / "profiles"
    assert installed in profile.PROFILE_DIRS  # where pip puts data-files for this interpreter
    data = tmp_path / "share" / "acesm-meter" / "profiles"
    data.mkdir(parents=True)
    for p in (ROOT / "profiles").glob("*.toml"):
        (data / p.name).write_bytes(p.read_bytes())
    # As installed: no source tree beside the package, only pip's data directory.
    monkeypatch.setattr(profile, "PROFILE_DIRS", (tmp_path / "no-source-tree", data))
    assert profile.resolve("acesm") == data / "acesm.toml"
    loaded = profile.load("acesm-na")  # extends acesm.toml, found beside it
    assert loaded.ldn.startswith(b"ACE")


def test_default_install_brings_uvloop_here(wheel: Path) -> None:
    """uvloop is a dependency of the default install wherever it installs (platform markers),
    not an extra: on this CPython/Linux the wheel's requirements pull it in."""
    with zipfile.ZipFile(wheel) as z:
        metadata = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA")))
    requires = [Requirement(line.split(":", 1)[1].strip())
                for line in metadata.decode().splitlines() if line.startswith("Requires-Dist:")]
    (uvloop,) = [r for r in requires if r.name == "uvloop"]
    assert uvloop.marker is not None and uvloop.marker.evaluate({"extra": ""})


def test_wheel_carries_the_meter_face(wheel: Path) -> None:
    """The control API's page (meter/control/face/static, pyproject's package-data)."""
    from meter.control.face import STATIC

    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"meter/control/face/static/{name}" for name in STATIC} <= names
