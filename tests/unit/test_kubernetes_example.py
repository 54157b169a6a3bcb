"""config/kubernetes/serve.yaml: the service's deployment example says what the README says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

EXAMPLE = Path(__file__).parents[2] / "config" / "kubernetes" / "serve.yaml"


def _documents() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(EXAMPLE.read_text())}


def test_the_deployment_probes_drains_and_runs_as_non_root() -> None:
    """Liveness on /healthz, readiness on /readyz with the token, a grace period above
    the drain timeout, non-root, the token from the Secret, one replica."""
    docs = _documents()
    assert set(docs) == {"Secret", "PersistentVolumeClaim", "Deployment", "Service"}
    spec = docs["Deployment"]["spec"]
    assert spec["replicas"] == 1
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][0] == "serve"
    drain_s = next(
        int(a.split("=")[1]) for a in container["args"] if a.startswith("--drain-timeout=")
    )
    assert pod["terminationGracePeriodSeconds"] > drain_s
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "/readyz" in " ".join(container["readinessProbe"]["exec"]["command"])
    token = next(e for e in container["env"] if e["name"] == "UPLOADER_API_TOKENS")
    assert token["valueFrom"]["secretKeyRef"]["name"] == docs["Secret"]["metadata"]["name"]
