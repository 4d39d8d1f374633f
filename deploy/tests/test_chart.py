"""The Helm chart with a real Helm engine (helm-python-sdk): lint, render,
the values schema, and the files it ships staying identical to deploy/.

In: deploy/helm/spoor, deploy/grafana, deploy/prometheus. Out: pytest results.
"""

import copy
import json
import subprocess
import sys

import pytest
import yaml

from conftest import CHART, DEPLOY, VALUE_SETS, find, render, run, tool


@pytest.mark.parametrize("label", ["defaults", "split-everything"])
def test_chart_lints_clean(label):
    import helm_python

    report = helm_python.lint(str(CHART), VALUE_SETS[label], strict=True)
    assert report["total_charts_linted"] == 1
    assert not report["errors"], report
    # Severity 2 is a warning, 3 an error; 1 (info) is only "icon is recommended".
    assert [m for m in report["messages"] if m["severity"] >= 2] == [], report


@pytest.mark.parametrize(
    "bad",
    [
        {"persistence": {"enabled": "yes"}},
        {"persistense": {"enabled": True}},
        {"prometheusRule": {"latencyUnit": "minutes"}},
        {"image": {"pullPolicy": "Sometimes"}},
        {"istio": {"basePath": "jaeger"}},
        {"serviceMonitor": {"interval": "often"}},
        {"mode": "splitted"},
        {"kafka": {"broker": "kafka:9092"}},
        {"kafka": {"brokers": "kafka:9092, kafka2:9092"}},
        {"store": {"replicas": 0}},
        {"store": {"persistence": {"enabled": "yes"}}},
        {"collector": {"replica": 2}},
        {"query": {"replicas": -1}},
    ],
)
def test_values_schema_rejects_wrong_values(chart, bad):
    import helm_python

    with pytest.raises(helm_python.HelmError):
        chart.validate_schema(bad)
    with pytest.raises(helm_python.HelmError):
        render(chart, bad)


def test_values_schema_accepts_every_value_set(chart):
    for values in VALUE_SETS.values():
        chart.validate_schema(values)


def test_persistence_switches_between_claim_template_and_empty_dir(chart):
    sts = find(render(chart, {}), "StatefulSet")[0]
    assert sts["spec"]["replicas"] == 1
    assert "volumeClaimTemplates" not in sts["spec"]
    assert {"name": "storage", "emptyDir": {}} in sts["spec"]["template"]["spec"]["volumes"]
    sts = find(render(chart, VALUE_SETS["persistence"]), "StatefulSet")[0]
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "storage"
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert claim["spec"]["storageClassName"] == "fast"
    assert all(v["name"] != "storage" for v in sts["spec"]["template"]["spec"]["volumes"])
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete"


def test_config_checksum_follows_the_config(chart):
    def checksum(values):
        sts = find(render(chart, values), "StatefulSet")[0]
        return sts["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum({}) == checksum({})
    assert checksum({}) != checksum({"config": {"storage": {"retention": "24h"}}})


def test_pods_run_as_user_10001(chart):
    pod = find(render(chart, {}), "StatefulSet")[0]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_monitoring_objects(tmp_path, chart):
    docs = render(chart, VALUE_SETS["everything"])
    sm = find(docs, "ServiceMonitor")[0]
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    svc = find(docs, "Service", "spoor")[0]
    port_names = {p["name"]: p["port"] for p in svc["spec"]["ports"]}
    assert port_names[sm["spec"]["endpoints"][0]["port"]] == 14269
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    # Each pod once: every matched Service but the one the relabelings drop.
    matched = [d["metadata"]["name"] for d in docs if d["kind"] == "Service" and sm["spec"]["selector"]["matchLabels"].items() <= d["metadata"]["labels"].items()]
    dropped = [r["regex"] for r in sm["spec"]["endpoints"][0]["relabelings"] if r["action"] == "drop" and r["sourceLabels"] == ["__meta_kubernetes_service_name"]]
    assert sorted(matched) == ["spoor", "spoor-headless"] and dropped == ["spoor-headless"]
    rule = find(docs, "PrometheusRule")[0]
    text = yaml.safe_dump({"groups": rule["spec"]["groups"]})
    assert "milliseconds" not in text and "traces_span_metrics_duration_seconds_bucket" in text
    f = tmp_path / "rule.yaml"
    f.write_text(text)
    run([tool("promtool"), "check", "rules", str(f)])
    shipped = yaml.safe_load((DEPLOY / "prometheus" / "spoor-rules.yaml").read_text())
    assert [g["name"] for g in rule["spec"]["groups"]] == [g["name"] for g in shipped["groups"]]
    # Milliseconds: the shipped rules unchanged.
    ms = find(render(chart, {"prometheusRule": {"enabled": True}}), "PrometheusRule")[0]
    assert ms["spec"]["groups"] == shipped["groups"]


def test_grafana_configmaps_carry_the_dashboards_and_data_sources(chart):
    docs = render(chart, VALUE_SETS["everything"])
    boards = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    shipped = sorted(p.name for p in (DEPLOY / "grafana" / "dashboards").glob("*.json"))
    assert sorted(k for b in boards for k in b["data"]) == shipped
    for b in boards:
        for name, text in b["data"].items():
            assert json.loads(text) == json.loads((DEPLOY / "grafana" / "dashboards" / name).read_text())
    (ds,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"].get("labels", {}).get("grafana_datasource") == "1"]
    content = yaml.safe_load(ds["data"]["spoor-datasources.yaml"])
    jaeger = [d for d in content["datasources"] if d["type"] == "jaeger"][0]
    assert jaeger["url"] == "http://spoor.istio-system:16686/jaeger"
    assert [d for d in content["datasources"] if d["type"] == "prometheus"][0]["url"] == "http://prometheus:9090"


def test_extra_objects_are_templated(chart):
    docs = render(chart, VALUE_SETS["everything"])
    find(docs, "ConfigMap", "spoor-extra")


def test_chart_files_are_the_shipped_ones(tmp_path):
    assert (CHART / "files" / "spoor-rules.yaml").read_bytes() == (DEPLOY / "prometheus" / "spoor-rules.yaml").read_bytes()
    for board in (DEPLOY / "grafana" / "dashboards").glob("*.json"):
        assert (CHART / "files" / "dashboards" / board.name).read_bytes() == board.read_bytes(), board.name


def test_dashboards_are_what_the_generator_writes(tmp_path):
    subprocess.run([sys.executable, str(DEPLOY / "grafana" / "dashboards.py"), str(tmp_path)], check=True, timeout=60)
    written = sorted(p.name for p in tmp_path.glob("*.json"))
    assert written == sorted(p.name for p in (DEPLOY / "grafana" / "dashboards").glob("*.json"))
    for name in written:
        want = (tmp_path / name).read_text()
        assert (DEPLOY / "grafana" / "dashboards" / name).read_text() == want, f"{name}: run deploy/grafana/dashboards.py"


# All-in-one renders (mode: allInOne, the default) kept byte for byte in
# deploy/tests/golden/: the split mode must not change them. After an
# intended change to the all-in-one chart, rewrite them with
#   target/deploy-venv/bin/python deploy/tests/test_chart.py --write-golden
GOLDEN = DEPLOY / "tests" / "golden"


def golden_value_sets():
    sets = {k: VALUE_SETS[k] for k in ("defaults", "persistence", "istio-compat")}
    # The dashboards are the generator's (checked below), not the chart's.
    everything = copy.deepcopy(VALUE_SETS["everything"])
    everything["grafana"]["dashboards"]["enabled"] = False
    sets["everything-but-dashboards"] = everything
    return sets


def render_text(chart, values):
    """Every non-empty rendered file, NOTES.txt included, exactly as Helm wrote it."""
    out = chart.render(values, name="spoor", namespace="istio-system", is_install=True)
    return "".join(f"# Source: {path}\n{text}\n" for path, text in sorted(out.items()) if text.strip())


@pytest.mark.parametrize("label", sorted(golden_value_sets()))
def test_all_in_one_render_is_unchanged(chart, label):
    want = (GOLDEN / f"{label}.yaml").read_text()
    got = render_text(chart, golden_value_sets()[label])
    assert got == want, f"the all-in-one render of {label} changed (see GOLDEN above)"
    assert render_text(chart, {**golden_value_sets()[label], "mode": "allInOne"}) == want


if __name__ == "__main__" and sys.argv[1:] == ["--write-golden"]:
    import helm_python

    loaded = helm_python.Chart.load(str(CHART))
    for label, values in golden_value_sets().items():
        (GOLDEN / f"{label}.yaml").write_text(render_text(loaded, values))
