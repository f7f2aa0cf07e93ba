#!/usr/bin/env python3
"""Render the Kubernetes manifest of a sharded fleet (issue 12 item 6) as JSON (kubectl apply -f
takes JSON as it takes YAML; no YAML library needed).

    tools/deploy/render.py --count 10000 --shards 4 --image registry.example/acesm-meter:0.1.0 \\
        > fleet.json && kubectl apply -f fleet.json

Out comes a List of two objects:

- a headless Service ``NAME``: pod ``NAME-I`` is reachable as ``NAME-I.NAME.<namespace>.svc``;
- a StatefulSet ``NAME`` of ``--shards`` pods. Pod ordinal I runs ``acesm-meter fleet --count N
  --shard I/K``: the ordinal is the shard (taken from the pod's hostname, ``NAME-I``, which a
  StatefulSet guarantees), so the K pods together serve the numbering 0..N-1 once, each meter on
  its own wrapper port ``base + i`` of its shard's pod, its state on the pod's own volume
  (volumeClaimTemplates), the CSV for the head end in the pod's log and in /state/meters.csv
  with the pod's DNS name as host.

``render()`` is what the test calls; the command line prints it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

DEFAULT_PORT = 4059


def shard_ports(count: int, shards: int, shard: int, base_port: int) -> range:
    """The wrapper ports pod ``shard`` listens on (meter/device/fleet.py shard_range)."""
    return range(base_port + count * shard // shards, base_port + count * (shard + 1) // shards)


def render(*, count: int, shards: int, image: str, name: str = "acesm-fleet",
           base_port: int = DEFAULT_PORT, seed: str = "acesm", profile: str = "acesm",
           storage: str = "1Gi", memory: str = "2Gi", cpu: str = "1") -> dict[str, Any]:
    if not 0 < shards <= count:
        raise ValueError(f"1 to {count} shards, not {shards}")
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "meter-fleet"}
    # $(HOSTNAME) is NAME-<ordinal>: the shard is what follows the last dash.
    script = (
        'set -eu; ORDINAL="${HOSTNAME##*-}"; '
        f'exec acesm-meter fleet --count {count} --shard "$ORDINAL/{shards}" '
        f'--base-port {base_port} --seed "$FLEET_SEED" --profile {profile} '
        f'--host 0.0.0.0 --advertise "$HOSTNAME.{name}" --state /state/fleet '
        '--csv /state/meters.csv'
    )
    probe = (
        'ORDINAL="${HOSTNAME##*-}"; python3 -c "import socket, sys; '
        f'socket.create_connection((\'127.0.0.1\', {base_port} + {count} * int(sys.argv[1]) '
        f'// {shards}), 2)" "$ORDINAL"'
    )
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {"clusterIP": "None", "selector": labels, "publishNotReadyAddresses": False,
                 # A headless service needs no port list to give each pod its DNS name; one
                 # named port documents where the numbering starts.
                 "ports": [{"name": "dlms-first", "port": base_port, "protocol": "TCP"}]},
    }
    statefulset = {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "serviceName": name,
            "replicas": shards,
            "podManagementPolicy": "Parallel",  # shards are independent: start them together
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 30,  # SIGTERM: every meter commits
                    "containers": [{
                        "name": "fleet",
                        "image": image,
                        "command": ["/bin/sh", "-c", script],
                        "env": [{"name": "FLEET_SEED", "value": seed}],
                        "resources": {"requests": {"memory": memory, "cpu": cpu},
                                      "limits": {"memory": memory}},
                        # Every listener is bound before READY: the shard's first port
                        # answering means the pod serves (the port depends on the ordinal).
                        "readinessProbe": {"exec": {"command": ["/bin/sh", "-c", probe]},
                                           "periodSeconds": 5, "timeoutSeconds": 3},
                        "volumeMounts": [{"name": "state", "mountPath": "/state"}],
                    }],
                },
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "state"},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": storage}}},
            }],
        },
    }
    return {"apiVersion": "v1", "kind": "List", "items": [service, statefulset]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, required=True, help="meters in the whole fleet")
    parser.add_argument("--shards", type=int, required=True, help="pods (K of --shard I/K)")
    parser.add_argument("--image", required=True, help="the image built from Containerfile")
    parser.add_argument("--name", default="acesm-fleet")
    parser.add_argument("--base-port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--seed", default="acesm", help="the fleet's key seed (keep it secret)")
    parser.add_argument("--profile", default="acesm")
    args = parser.parse_args(argv)
    manifest = render(count=args.count, shards=args.shards, image=args.image, name=args.name,
                      base_port=args.base_port, seed=args.seed, profile=args.profile)
    json.dump(manifest, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
