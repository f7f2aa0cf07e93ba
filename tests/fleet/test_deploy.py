"""tools/deploy: the StatefulSet renders as JSON Kubernetes takes, its pods' command turns the
ordinal into ``--shard I/K`` that the meter's own parser accepts, the K shards cover the
numbering, and the readiness probe finds the shard's first port."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from support.paths import ROOT

from meter.cli import build_parser
from meter.device.fleet import shard_range

DEPLOY = ROOT / "tools" / "deploy"


def _render_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("render", DEPLOY / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rendered(*args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(DEPLOY / "render.py"), *args],
                          capture_output=True, text=True, check=True, timeout=60)
    return json.loads(done.stdout)


def _container(manifest: dict[str, Any]) -> dict[str, Any]:
    sts = next(i for i in manifest["items"] if i["kind"] == "StatefulSet")
    return sts["spec"]["template"]["spec"]["containers"][0]


def test_the_manifest_renders_as_a_statefulset_and_its_service() -> None:
    manifest = _rendered("--count", "10000", "--shards", "4", "--image", "reg.example/acesm:1")
    kinds = [(i["apiVersion"], i["kind"]) for i in manifest["items"]]
    assert kinds == [("v1", "Service"), ("apps/v1", "StatefulSet")]
    service, sts = manifest["items"]
    assert service["spec"]["clusterIP"] == "None"  # headless: one DNS name per pod
    assert sts["spec"]["serviceName"] == service["metadata"]["name"]
    assert sts["spec"]["replicas"] == 4
    assert sts["spec"]["selector"]["matchLabels"] == sts["spec"]["template"]["metadata"]["labels"]
    container = _container(manifest)
    assert container["image"] == "reg.example/acesm:1"
    mount = container["volumeMounts"][0]
    assert mount["name"] == sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]


@pytest.mark.parametrize("ordinal", [0, 1, 2])
def test_the_pod_ordinal_is_the_shard(tmp_path: Path, ordinal: int) -> None:
    manifest = _rendered("--count", "10", "--shards", "3", "--image", "x", "--seed", "s3")
    container = _container(manifest)
    fake = tmp_path / "acesm-meter"  # stands in for the image's console script: prints its argv
    fake.write_text("#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "HOSTNAME": f"acesm-fleet-{ordinal}",
           **{e["name"]: e["value"] for e in container["env"]}}
    done = subprocess.run(container["command"], env=env, capture_output=True, text=True,
                          check=True, timeout=30)
    argv = done.stdout.splitlines()
    args = build_parser().parse_args(argv)  # what the meter will make of it
    assert args.command == "fleet" and args.count == 10 and args.seed == "s3"
    assert args.shard == (ordinal, 3) and args.advertise == f"acesm-fleet-{ordinal}.acesm-fleet"


def test_the_shards_ports_cover_the_numbering_once() -> None:
    render = _render_module()
    for count, shards in ((10, 3), (10000, 4), (7, 7)):
        ports = [p for i in range(shards) for p in render.shard_ports(count, shards, i, 4059)]
        assert ports == [4059 + i for i in range(count)]
        assert ports == [4059 + i for k in range(shards) for i in shard_range(count, (k, shards))]


def test_the_readiness_probe_connects_to_the_shards_first_port(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        # Shard 2 of 3 of 9 meters starts at base + 6: choose the base so that it is ``port``.
        manifest = _rendered("--count", "9", "--shards", "3", "--image", "x",
                             "--base-port", str(port - 6))
        probe = _container(manifest)["readinessProbe"]["exec"]["command"]
        env = {"PATH": os.environ["PATH"], "HOSTNAME": "acesm-fleet-2"}
        assert subprocess.run(probe, env=env, timeout=30).returncode == 0
        env["HOSTNAME"] = "acesm-fleet-1"  # its port (base + 3) is not listening
        assert subprocess.run(probe, env=env, timeout=30, capture_output=True).returncode != 0
    finally:
        listener.close()


def test_the_containerfile_runs_the_fleet() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    entry = json.loads(next(line for line in text.splitlines()
                            if line.startswith("ENTRYPOINT")).split(None, 1)[1])
    cmd = json.loads(next(line for line in text.splitlines()
                          if line.startswith("CMD")).split(None, 1)[1])
    assert entry == ["acesm-meter"]
    args = build_parser().parse_args(cmd)
    assert args.command == "fleet" and args.host == "0.0.0.0"
    assert "pip install" in text and "COPY meter ./meter" in text and "COPY profiles" in text
