"""Shared helpers of the deployment checks (run by scripts/test-deploy.sh).

In: the repository's deploy/ folder, the spoor binary named by $DEPLOY_SPOOR_BIN,
the tools scripts/install-deploy-tools.sh installs (promtool, prometheus,
kubernetes-validate and helm-python-sdk in target/deploy-venv). Out: pytest
fixtures and helpers; nothing here is skipped when a tool is missing.
"""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "spoor"

# Value sets the chart is rendered and validated with.
VALUE_SETS = {
    "defaults": {},
    "persistence": {"persistence": {"enabled": True, "size": "20Gi", "storageClassName": "fast", "enableStatefulSetAutoDeletePVC": True}},
    "istio-compat": {"istio": {"compat": True}, "persistence": {"enabled": True}},
    "everything": {
        "istio": {"compat": True},
        "persistence": {"enabled": True},
        "ingress": {"enabled": True, "ingressClassName": "nginx", "tls": [{"hosts": ["spoor.example.com"], "secretName": "spoor-tls"}]},
        "serviceMonitor": {"enabled": True, "additionalLabels": {"release": "kube-prometheus-stack"}},
        "prometheusRule": {"enabled": True, "latencyUnit": "seconds"},
        "grafana": {"dashboards": {"enabled": True}, "datasources": {"enabled": True, "prometheusUrl": "http://prometheus:9090"}},
        "config": {"storage": {"retention": "168h", "max_disk_bytes": "40GiB"}, "log_level": "debug"},
        "extraArgs": ["--log-level", "info"],
        "extraEnv": [{"name": "SPOOR_RETENTION", "value": "96h"}],
        "extraObjects": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "{{ .Release.Name }}-extra"}, "data": {"k": "v"}}],
    },
    # Split mode on Kafka: collectors, store nodes and query nodes.
    "split": {"mode": "split", "kafka": {"brokers": "kafka-0.kafka:9092,kafka-1.kafka:9092"}},
    "split-everything": {
        "mode": "split",
        "kafka": {"brokers": ["kafka-0.kafka:9092", "kafka-1.kafka:9092"], "topic": "spans", "partitions": 12, "groupId": "stores", "clientProperties": {"security.protocol": "plaintext"}},
        "collector": {"replicas": 3, "resources": {"requests": {"cpu": "200m"}, "limits": {"memory": "1Gi"}}},
        "store": {"replicas": 4, "persistence": {"size": "50Gi", "storageClassName": "fast", "enableStatefulSetAutoDeletePVC": True}},
        "query": {"replicas": 2},
        "istio": {"compat": True},
        "ingress": {"enabled": True, "ingressClassName": "nginx"},
        "serviceMonitor": {"enabled": True},
        "grafana": {"datasources": {"enabled": True}},
        "config": {"storage": {"retention": "48h"}, "kafka": {"consumer": {"max_batch_records": 500}}},
        "extraArgs": ["--log-level", "info"],
        "extraEnv": [{"name": "SPOOR_RETENTION", "value": "96h"}],
    },
}


def tool(name):
    """Path of a required tool: the venv's first, then PATH; fails when absent."""
    venv = ROOT / "target" / "deploy-venv" / "bin" / name
    if venv.exists():
        return str(venv)
    found = shutil.which(name)
    assert found, f"{name} is not installed: run scripts/install-deploy-tools.sh"
    return found


def run(args, timeout=120, check=True, **kw):
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    if check:
        assert proc.returncode == 0, f"{args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="session")
def spoor_bin():
    path = os.environ.get("DEPLOY_SPOOR_BIN", "")
    assert path and os.access(path, os.X_OK), "DEPLOY_SPOOR_BIN must name the built spoor binary"
    return path


@pytest.fixture(scope="session")
def chart():
    import helm_python

    return helm_python.Chart.load(str(CHART))


def render(chart, values, namespace="istio-system"):
    """Renders the chart; returns the list of objects (NOTES.txt left out)."""
    out = chart.render(values, name="spoor", namespace=namespace, is_install=True)
    docs = []
    for path, text in sorted(out.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def manifests(path):
    return [d for d in yaml.safe_load_all(pathlib.Path(path).read_text()) if d]


def find(docs, kind, name=None):
    hits = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert hits, f"no {kind} {name or ''}"
    return hits


if sys.version_info < (3, 9):
    raise RuntimeError("the deployment checks need Python 3.9 or newer")
