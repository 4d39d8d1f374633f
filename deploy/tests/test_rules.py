"""Prometheus rules: promtool syntax checks and unit tests, every alert with
a case that fires and one that does not, and every metric the rules and
dashboards name documented (docs/metrics.md) so Spoor really serves it.

In: deploy/prometheus, deploy/grafana/dashboards, docs/metrics.md. Out:
pytest results.
"""

import json
import re

import yaml

from conftest import DEPLOY, ROOT, run, tool

RULES = DEPLOY / "prometheus" / "spoor-rules.yaml"
TESTS = DEPLOY / "prometheus" / "spoor-rules.test.yaml"


def test_promtool_checks_the_rules_and_the_example_config():
    run([tool("promtool"), "check", "rules", str(RULES)])
    run([tool("promtool"), "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")])


def test_promtool_unit_tests_pass():
    proc = run([tool("promtool"), "test", "rules", str(TESTS)], timeout=300)
    assert "SUCCESS" in proc.stdout + proc.stderr


def test_promtool_unit_tests_can_fail(tmp_path):
    # The same tests against rules with a threshold moved must fail.
    broken = RULES.read_text().replace(") > 0.05", ") > 0.5")
    assert broken != RULES.read_text()
    (tmp_path / "spoor-rules.yaml").write_text(broken)
    (tmp_path / "t.yaml").write_text(TESTS.read_text())
    proc = run([tool("promtool"), "test", "rules", str(tmp_path / "t.yaml")], timeout=300, check=False)
    assert proc.returncode != 0 and "SpanErrorRatioHigh" in proc.stdout + proc.stderr


def test_every_alert_has_a_firing_and_a_silent_case():
    rules = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert len(alerts) >= 10
    cases = [c for t in yaml.safe_load(TESTS.read_text())["tests"] for c in t.get("alert_rule_test", [])]
    fires = {c["alertname"] for c in cases if c.get("exp_alerts")}
    silent = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    assert alerts - fires == set(), "alerts without a firing case"
    assert alerts - silent == set(), "alerts without a silent case"


def test_burn_rate_windows_are_the_workbooks():
    rules = {r.get("alert"): r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    for name, factor, long, short in [
        ("ErrorBudgetBurnFast", "14.4", "1h", "5m"),
        ("ErrorBudgetBurnMedium", "6", "6h", "30m"),
        ("ErrorBudgetBurnSlow", "1", "3d", "6h"),
    ]:
        expr = rules[name]["expr"]
        assert f"ratio_rate{long} > ({factor} * 0.001)" in expr, name
        assert f"ratio_rate{short} > ({factor} * 0.001)" in expr, name


def metric_names(text):
    names = set(re.findall(r"\b((?:spoor|traces)_[a-z0-9_]+)", text))
    out = set()
    for n in names:
        for suffix in ("_bucket", "_sum", "_count"):
            if n.endswith(suffix):
                n = n[: -len(suffix)]
        out.add(n)
    return out


def exprs_of_dashboards():
    for board in (DEPLOY / "grafana" / "dashboards").glob("*.json"):
        d = json.loads(board.read_text())
        for p in d["panels"]:
            for t in p.get("targets", []):
                yield t["expr"]
        for v in d["templating"]["list"]:
            if v["type"] == "query":
                yield v["definition"]


def test_every_metric_named_is_documented():
    doc = (ROOT / "docs" / "metrics.md").read_text()
    rules = yaml.safe_load(RULES.read_text())
    texts = [r["expr"] for g in rules["groups"] for r in g["rules"]] + list(exprs_of_dashboards())
    names = set()
    for t in texts:
        names |= metric_names(t.replace("${latency_unit}", "milliseconds"))
    # Recording rule outputs are not Spoor's metrics.
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    names = {n for n in names if not any(n in r for r in recorded)}
    assert len(names) > 30
    missing = sorted(n for n in names if f"`{n}`" not in doc)
    assert missing == [], "not in docs/metrics.md"
