"""Kubernetes manifests: strict schema validation of deploy/istio and of the
chart rendered with several value sets, the Istio addon's contract (Service
names, ports, port names, labels, selectors; pod labels), and the binary
accepting every configuration and flag the manifests give it.

In: deploy/istio/*.yaml, the chart, $DEPLOY_SPOOR_BIN. Out: pytest results.
"""

import pathlib
import subprocess

import pytest
import yaml

from conftest import DEPLOY, VALUE_SETS, find, manifests, render, run, tool

ISTIO = DEPLOY / "istio" / "spoor.yaml"
# Kinds of custom resources: no schema in kubernetes-validate's set.
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule"}

# The Services of Istio's samples/addons/jaeger.yaml, port by port:
# (name, port, targetPort, protocol as written or None).
ADDON_SERVICES = {
    "tracing": {
        "labels": {"app": "jaeger"},
        "type": "ClusterIP",
        "ports": [("http-query", 80, 16686, "TCP"), ("grpc-query", 16685, 16685, "TCP")],
    },
    "zipkin": {"labels": {"name": "zipkin"}, "type": None, "ports": [("http-query", 9411, 9411, None)]},
    "jaeger-collector": {
        "labels": {"app": "jaeger"},
        "type": "ClusterIP",
        "ports": [
            ("jaeger-collector-http", 14268, 14268, "TCP"),
            ("jaeger-collector-grpc", 14250, 14250, "TCP"),
            ("http-zipkin", 9411, 9411, None),
            ("grpc-otel", 4317, None, None),
            ("http-otel", 4318, None, None),
        ],
    },
}


def kubernetes_validate(tmp_path, docs, label):
    files = []
    for i, doc in enumerate(d for d in docs if d["kind"] not in CUSTOM_KINDS):
        f = tmp_path / f"{label}-{i}-{doc['kind']}.yaml"
        f.write_text(yaml.safe_dump(doc))
        files.append(str(f))
    assert files
    proc = run([tool("kubernetes-validate"), "--strict", *files], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "passed" in proc.stdout + proc.stderr


def test_istio_manifest_passes_strict_validation(tmp_path):
    proc = run([tool("kubernetes-validate"), "--strict", str(ISTIO)], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("passed") + proc.stderr.count("passed") == len(manifests(ISTIO))


def test_strict_validation_catches_a_misspelled_field(tmp_path):
    docs = manifests(ISTIO)
    service = find(docs, "Service", "tracing")[0]
    service["spec"]["portz"] = service["spec"].pop("ports")
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(service))
    proc = run([tool("kubernetes-validate"), "--strict", str(f)], check=False)
    assert proc.returncode != 0


@pytest.mark.parametrize("label", sorted(VALUE_SETS))
def test_rendered_chart_passes_strict_validation(tmp_path, chart, label):
    kubernetes_validate(tmp_path, render(chart, VALUE_SETS[label]), label)


def check_addon_services(docs):
    for name, want in ADDON_SERVICES.items():
        svc = find(docs, "Service", name)[0]
        assert svc["metadata"]["namespace"] == "istio-system"
        assert svc["metadata"]["labels"] == want["labels"], name
        assert svc["spec"].get("type") == want["type"], name
        assert svc["spec"]["selector"] == {"app": "jaeger"}, name
        got = [(p["name"], p["port"], p.get("targetPort"), p.get("protocol")) for p in svc["spec"]["ports"]]
        assert got == want["ports"], name


def test_istio_file_has_the_addon_services():
    check_addon_services(manifests(ISTIO))


def test_chart_istio_compat_has_the_addon_services(chart):
    docs = render(chart, VALUE_SETS["istio-compat"])
    check_addon_services(docs)
    pod = find(docs, "StatefulSet")[0]["spec"]["template"]["metadata"]["labels"]
    assert pod["app"] == "jaeger" and pod["sidecar.istio.io/inject"] == "false"
    plain = render(chart, {}, namespace="tracing")
    assert not [d for d in plain if d["kind"] == "Service" and d["metadata"]["name"] in ADDON_SERVICES]
    assert "app" not in find(plain, "StatefulSet")[0]["spec"]["template"]["metadata"]["labels"]


def test_istio_deployment_replaces_the_addon():
    docs = manifests(ISTIO)
    dep = find(docs, "Deployment", "jaeger")[0]
    assert dep["metadata"]["namespace"] == "istio-system"
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    assert dep["spec"]["selector"]["matchLabels"] == {"app": "jaeger"}
    tpl = dep["spec"]["template"]
    assert tpl["metadata"]["labels"]["app"] == "jaeger"
    assert tpl["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"
    ann = tpl["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/port"] == "14269"
    volumes = {v["name"]: v for v in tpl["spec"]["volumes"]}
    claim = volumes["data"]["persistentVolumeClaim"]["claimName"]
    find(docs, "PersistentVolumeClaim", claim)
    assert tpl["spec"]["securityContext"]["runAsUser"] == 10001
    for d in docs:
        assert d["metadata"]["namespace"] == "istio-system", d["metadata"]["name"]


def containers_and_configs(docs):
    """(container, config text) of each workload among `docs`."""
    configmaps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    out = []
    for w in docs:
        if w["kind"] not in ("Deployment", "StatefulSet"):
            continue
        spec = w["spec"]["template"]["spec"]
        cm_of = {v["name"]: v["configMap"]["name"] for v in spec["volumes"] if "configMap" in v}
        for c in spec["containers"]:
            mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
            args = c.get("args", [])
            cfg_path = pathlib.PurePosixPath(args[args.index("--config") + 1])
            cm = configmaps[cm_of[mounts[str(cfg_path.parent)]]]
            out.append((w, c, mounts, cm["data"][cfg_path.name]))
    assert out
    return out


# The listeners each role of the split mode binds (keys of the config's
# `listen`); all-in-one binds every one.
ROLE_LISTENERS = {
    "collector": {"otlp_grpc", "otlp_http", "zipkin", "admin", "sampling_http", "sampling_grpc", "jaeger_grpc", "jaeger_thrift_http", "agent_compact", "agent_binary"},
    "store": {"query_http", "admin"},
    "query": {"query_http", "query_grpc", "zipkin", "admin"},
}


def role_of(args):
    """The role subcommand a container runs (the last argument), or None for all-in-one."""
    return args[-1] if args and args[-1] in ROLE_LISTENERS else None


def print_config(spoor_bin, tmp_path, config_text, args, env):
    f = tmp_path / "config.yaml"
    f.write_text(config_text)
    args = list(args)
    args[args.index("--config") + 1] = str(f)
    role = role_of(args)
    if role:
        # The binary has the role's subcommand; print-config takes its place
        # (the subcommand comes last).
        proc = subprocess.run([spoor_bin, role, "--help"], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, f"spoor {role}: {proc.stderr}"
        args.pop()
    clean = {"PATH": "/usr/bin:/bin"}
    clean.update(env)
    proc = subprocess.run([spoor_bin, *args, "print-config"], capture_output=True, text=True, env=clean, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "unknown environment variable" not in proc.stderr, proc.stderr
    return yaml.safe_load(proc.stdout)


def check_workloads(docs, spoor_bin, tmp_path, want_base_path):
    services = [d for d in docs if d["kind"] == "Service"]
    for workload, c, mounts, text in containers_and_configs(docs):
        env = {e["name"]: e["value"] for e in c.get("env", []) if "value" in e}
        cfg = print_config(spoor_bin, tmp_path, text, c["args"], env)
        role = role_of(c["args"])
        listen = {int(a.rsplit(":", 1)[1]) for k, a in cfg["listen"].items() if role is None or k in ROLE_LISTENERS[role]}
        declared = {p["containerPort"] for p in c["ports"]}
        assert declared == listen, (declared ^ listen)
        names = {p["name"]: p["containerPort"] for p in c["ports"]}
        if role in (None, "store"):
            assert mounts[cfg["data_dir"]] in ("data", "storage"), cfg["data_dir"]
        assert cfg["query"]["http"]["base_path"] == want_base_path
        admin = int(cfg["listen"]["admin"].rsplit(":", 1)[1])
        for probe in ("livenessProbe", "readinessProbe"):
            port = c[probe]["httpGet"]["port"]
            assert names.get(port, port) == admin, probe
        ann = workload["spec"]["template"]["metadata"]["annotations"]
        assert int(ann["prometheus.io/port"]) == admin
        labels = workload["spec"]["template"]["metadata"]["labels"]
        for svc in services:
            if not all(labels.get(k) == v for k, v in svc["spec"]["selector"].items()):
                continue
            for p in svc["spec"]["ports"]:
                target = p.get("targetPort", p["port"])
                port = names.get(target, target)
                assert port in declared, (svc["metadata"]["name"], p)


def test_istio_file_config_and_ports_are_the_binarys(spoor_bin, tmp_path):
    check_workloads(manifests(ISTIO), spoor_bin, tmp_path, "/jaeger")


@pytest.mark.parametrize("label", sorted(VALUE_SETS))
def test_chart_config_and_ports_are_the_binarys(spoor_bin, tmp_path, chart, label):
    values = VALUE_SETS[label]
    base = "/jaeger" if values.get("istio", {}).get("compat") else "/"
    check_workloads(render(chart, values), spoor_bin, tmp_path, base)


def test_a_wrong_config_key_is_refused_by_the_binary(spoor_bin, tmp_path, chart):
    docs = render(chart, {"config": {"storage": {"retension": "1h"}}})
    _, c, _, text = containers_and_configs(docs)[0]
    f = tmp_path / "config.yaml"
    f.write_text(text)
    proc = subprocess.run([spoor_bin, "--config", str(f), "print-config"], capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0 and "retension" in proc.stderr


# Fields of the Istio custom resources the examples use (istio/api
# mesh/v1alpha1/config.proto, telemetry/v1alpha1/telemetry.proto).
ZIPKIN_PROVIDER = {"service", "port", "maxTagLength", "enable64bitTraceId", "path", "traceContextOption", "timeout", "headers"}
OTEL_PROVIDER = {"service", "port", "maxTagLength", "http", "grpc", "resourceDetectors", "dynatraceSampler"}
TRACING = {"providers", "randomSamplingPercentage", "customTags", "disableSpanReporting", "useRequestIdForTraceSampling", "enableIstioTags", "match"}
CUSTOM_TAG = {"literal": {"value"}, "environment": {"name", "defaultValue"}, "header": {"name", "defaultValue"}, "formatter": {"value"}}


def test_istio_mesh_and_telemetry_examples_use_real_fields():
    (op,) = manifests(DEPLOY / "istio" / "mesh-tracing.yaml")
    assert op["apiVersion"] == "install.istio.io/v1alpha1" and op["kind"] == "IstioOperator"
    providers = op["spec"]["meshConfig"]["extensionProviders"]
    names = set()
    services = {}
    for p in providers:
        names.add(p["name"])
        (kind,) = set(p) - {"name"}
        fields = {"zipkin": ZIPKIN_PROVIDER, "opentelemetry": OTEL_PROVIDER}[kind]
        assert set(p[kind]) <= fields, p
        services[p["name"]] = (p[kind]["service"], p[kind]["port"])
    istio = {d["metadata"]["name"]: d for d in manifests(ISTIO) if d["kind"] == "Service"}
    for svc, port in services.values():
        name, ns = svc.split(".")[:2]
        assert ns == "istio-system" and port in [p["port"] for p in istio[name]["spec"]["ports"]]
    (tel,) = manifests(DEPLOY / "istio" / "telemetry.yaml")
    assert tel["apiVersion"] == "telemetry.istio.io/v1" and tel["kind"] == "Telemetry"
    for t in tel["spec"]["tracing"]:
        assert set(t) <= TRACING
        assert 0 <= t["randomSamplingPercentage"] <= 100
        assert {p["name"] for p in t["providers"]} <= names
        for tag in t.get("customTags", {}).values():
            (kind,) = tag
            assert set(tag[kind]) <= CUSTOM_TAG[kind]


def test_kiali_snippets_point_at_the_tracing_service():
    tracing = find(manifests(ISTIO), "Service", "tracing")[0]
    ports = {p["port"]: p for p in tracing["spec"]["ports"]}
    for name, grpc in [("tracing-grpc.yaml", True), ("tracing-http.yaml", False)]:
        snippet = yaml.safe_load((DEPLOY / "kiali" / name).read_text())["external_services"]["tracing"]
        assert snippet["enabled"] is True and snippet["provider"] == "jaeger"
        assert snippet["use_grpc"] is grpc
        url = snippet["internal_url"]
        assert url.startswith("http://tracing.istio-system:") and url.endswith("/jaeger")
        port = int(url.split(":")[2].split("/")[0])
        assert ports[port]["name"] == ("grpc-query" if grpc else "http-query")


def test_grafana_provisioning_files():
    ds = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/spoor.yaml").read_text())
    assert ds["apiVersion"] == 1
    (jaeger,) = ds["datasources"]
    assert jaeger["type"] == "jaeger" and jaeger["url"].endswith("/jaeger")
    prom = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    assert prom["datasources"][0]["uid"] == jaeger["jsonData"]["tracesToMetrics"]["datasourceUid"]
    prov = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/spoor.yaml").read_text())
    assert prov["apiVersion"] == 1 and prov["providers"][0]["type"] == "file"
