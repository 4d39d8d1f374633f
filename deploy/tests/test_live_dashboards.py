"""Dashboards and recording rules against a real Prometheus scraping a real
Spoor: every PromQL expression of every dashboard panel and variable and
every rule, with the template variables substituted, must be accepted by
Prometheus; the RED and service-graph ones must return data while traces
with errors and calls between services flow in.

In: $DEPLOY_SPOOR_BIN, Debian's `prometheus`, deploy/grafana/dashboards/*.json,
deploy/prometheus/spoor-rules.yaml. Out: pytest results. Both processes
listen on free loopback ports and are stopped at the end.
"""

import json
import os
import random
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import yaml

from conftest import DEPLOY, tool

BOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
# Dashboards whose every panel must show data under traffic.
MUST_HAVE_DATA = {"spoor-red", "spoor-service-graph"}
SPAN_FLAGS = [
    "--otlp-grpc-addr", "--otlp-http-addr", "--zipkin-addr", "--query-http-addr", "--query-grpc-addr",
    "--admin-addr", "--sampling-http-addr", "--sampling-grpc-addr", "--jaeger-grpc-addr",
    "--jaeger-thrift-http-addr", "--agent-compact-addr", "--agent-binary-addr",
]
# Grafana's built-in variables, as a dashboard over the last minutes sets them.
BUILTINS = {"__rate_interval": "30s", "__range": "5m", "__interval": "5s"}


# Ports handed out in this run: the kernel may give a just-closed port again,
# and two listeners of one process on the same port stop it at start.
_HANDED_OUT = set()


def free_port():
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def http(url, data=None, headers=None, timeout=5):
    req = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status, resp.read()


def wait_for(what, check, secs=30):
    deadline = time.monotonic() + secs
    while True:
        try:
            value = check()
            if value:
                return value
        except (OSError, urllib.error.URLError, ValueError, KeyError):
            pass
        assert time.monotonic() < deadline, f"{what} not within {secs}s"
        time.sleep(0.2)


class Spoor:
    def __init__(self, binary, tmp):
        args = [binary, "--data-dir", str(tmp / "spoor-data")]
        for flag in SPAN_FLAGS:
            args += [flag, "127.0.0.1:0"]
        env = dict(os.environ, SPOOR_LOG_LEVEL="warn")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.addrs = {}
        found = threading.Event()

        def read():
            for line in self.proc.stdout:
                if line.startswith("spoor: listening on "):
                    self.addrs = dict(kv.split("=", 1) for kv in line.split()[3:])
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        assert found.wait(60), "spoor did not report its listeners"
        wait_for("spoor health", lambda: http(f"http://{self.addrs['admin']}/")[0] == 200)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Prometheus:
    def __init__(self, tmp, admin_addr, rules):
        self.port = free_port()
        shutil.copy(rules, tmp / "spoor-rules.yaml")
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(tmp / "spoor-rules.yaml")],
            "scrape_configs": [{"job_name": "spoor", "static_configs": [{"targets": [admin_addr]}]}],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = open(tmp / "prometheus.log", "w")
        self.proc = subprocess.Popen(
            [
                tool("prometheus"),
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'prometheus-data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        wait_for("prometheus ready", lambda: http(self.url + "/-/ready")[0] == 200, secs=60)

    def api(self, path, **params):
        url = f"{self.url}/api/v1/{path}?" + urllib.parse.urlencode(params, doseq=True)
        try:
            _, body = http(url, timeout=20)
        except urllib.error.HTTPError as e:
            body = e.read()
        return json.loads(body)

    def query(self, expr):
        return self.api("query", query=expr)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def otlp_batch(rng):
    """Traces of frontend → cart → payment (OTLP/JSON): server and client
    spans in every service, about one payment in four failing."""
    by_service = {}

    def span(service, trace, parent, name, kind, start, dur, error=False):
        sid = "%016x" % rng.getrandbits(64)
        s = {
            "traceId": trace,
            "spanId": sid,
            "name": name,
            "kind": kind,
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(start + dur),
            "attributes": [{"key": "http.response.status_code", "value": {"intValue": "500" if error else "200"}}],
            "status": {"code": 2 if error else 1},
        }
        if parent:
            s["parentSpanId"] = parent
        by_service.setdefault(service, []).append(s)
        return sid

    now = time.time_ns()
    for _ in range(20):
        trace = "%032x" % rng.getrandbits(128)
        fail = rng.random() < 0.25
        t = now - 50_000_000
        root = span("frontend", trace, None, "GET /checkout", 2, t, 40_000_000, fail)
        c1 = span("frontend", trace, root, "POST /cart", 3, t + 1_000_000, 30_000_000, fail)
        s1 = span("cart", trace, c1, "POST /cart", 2, t + 2_000_000, 28_000_000, fail)
        c2 = span("cart", trace, s1, "POST /pay", 3, t + 3_000_000, rng.randint(5, 400) * 1_000_000 // 20, fail)
        span("payment", trace, c2, "POST /pay", 2, t + 4_000_000, rng.randint(2, 2000) * 1_000_000 // 100, fail)
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]},
                "scopeSpans": [{"spans": spans}],
            }
            for svc, spans in by_service.items()
        ]
    }


class Traffic:
    def __init__(self, otlp_http_addr):
        self.url = f"http://{otlp_http_addr}/v1/traces"
        self.stop_flag = threading.Event()
        self.sent = 0
        self.errors = []
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        rng = random.Random(11)
        while not self.stop_flag.is_set():
            body = json.dumps(otlp_batch(rng)).encode()
            try:
                status, _ = http(self.url, body, {"content-type": "application/json"})
                assert status == 200
                self.sent += 1
            except Exception as e:  # reported by the test
                self.errors.append(repr(e))
            self.stop_flag.wait(0.2)

    def stop(self):
        self.stop_flag.set()
        self.thread.join(10)


def variable_values(board):
    """Each variable's value for the queries: All for query variables, every
    option for custom ones (so each histogram unit is checked)."""
    out = {}
    for v in board["templating"]["list"]:
        if v["type"] == "query":
            out[v["name"]] = [v.get("allValue") or ".*"]
        elif v["type"] == "custom":
            out[v["name"]] = [o["value"] for o in v["options"]]
    return out


def substitute(expr, values):
    def repl(m):
        name = m.group(1) or m.group(2)
        if name in BUILTINS:
            return BUILTINS[name]
        return values[name]

    text = re.sub(r"\$\{(\w+)\}|\$(\w+)", repl, expr)
    assert "$" not in text, text
    return text


def expansions(expr, board):
    """The expression with every combination of the custom variables' values
    it uses; the first is the dashboard's default."""
    values = variable_values(board)
    used = [n for n in values if re.search(r"\$\{?" + n + r"\b", expr)]
    combos = [{}]
    for name in used:
        combos = [dict(c, **{name: v}) for c in combos for v in values[name]]
    return [substitute(expr, c) for c in combos]


@pytest.fixture(scope="module")
def stack(spoor_bin, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live")
    spoor = Spoor(spoor_bin, tmp)
    prom = None
    traffic = None
    try:
        prom = Prometheus(tmp, spoor.addrs["admin"], DEPLOY / "prometheus" / "spoor-rules.yaml")
        traffic = Traffic(spoor.addrs["otlp_http"])
        # Scraped, with traffic for a while: every series has samples.
        wait_for("the target up", lambda: prom.query('up{job="spoor"} == 1')["data"]["result"])
        wait_for(
            "service-graph series in Prometheus",
            lambda: prom.query("traces_service_graph_request_failed_total")["data"]["result"],
            secs=60,
        )
        time.sleep(8)
        assert traffic.sent > 10 and not traffic.errors, traffic.errors[:3]
        yield prom
    finally:
        if traffic:
            traffic.stop()
        if prom:
            prom.stop()
        spoor.stop()


def dashboard_queries():
    for path in BOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for t in panel.get("targets", []):
                yield pytest.param(board, panel["title"], t["expr"], id=f"{board['uid']}:{panel['title']}:{t['refId']}")


@pytest.mark.parametrize("board,title,expr", list(dashboard_queries()))
def test_dashboard_panel_query(stack, board, title, expr):
    for i, text in enumerate(expansions(expr, board)):
        answer = stack.query(text)
        assert answer["status"] == "success", (text, answer.get("error"))
        if board["uid"] in MUST_HAVE_DATA and i == 0:
            assert answer["data"]["result"], f"no data: {text}"


def variable_queries():
    for path in BOARDS:
        board = json.loads(path.read_text())
        for v in board["templating"]["list"]:
            if v["type"] == "query":
                yield pytest.param(board, v, id=f"{board['uid']}:${v['name']}")


@pytest.mark.parametrize("board,var", list(variable_queries()))
def test_dashboard_variable_query(stack, board, var):
    m = re.fullmatch(r"label_values\((.+), (\w+)\)", var["definition"])
    assert m, var["definition"]
    selector = substitute(m.group(1), {n: v[0] for n, v in variable_values(board).items()})
    answer = stack.api(f"label/{m.group(2)}/values", **{"match[]": selector})
    assert answer["status"] == "success", answer
    assert answer["data"], f"no values for {var['name']}"


def rules():
    doc = yaml.safe_load((DEPLOY / "prometheus" / "spoor-rules.yaml").read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            name = rule.get("record") or rule.get("alert")
            yield pytest.param(group["name"], rule, id=f"{group['name']}:{name}")


@pytest.mark.parametrize("group,rule", list(rules()))
def test_rule_expression(stack, group, rule):
    answer = stack.query(rule["expr"])
    assert answer["status"] == "success", answer.get("error")
    if "record" in rule:
        # Prometheus evaluates the recording rules every second: the
        # recorded series exist with data.
        recorded = wait_for(rule["record"], lambda: stack.query(rule["record"])["data"]["result"], secs=20)
        assert recorded


def test_prometheus_loaded_every_rule_group_without_error(stack):
    groups = stack.api("rules")["data"]["groups"]
    shipped = yaml.safe_load((DEPLOY / "prometheus" / "spoor-rules.yaml").read_text())["groups"]
    assert sorted(g["name"] for g in groups) == sorted(g["name"] for g in shipped)
    for g in groups:
        for r in g["rules"]:
            assert r["health"] in ("ok", "unknown"), (r["name"], r.get("lastError"))


def test_spoor_exports_the_limits_and_stall_gauges(stack):
    for name in [
        "spoor_storage_write_stalled",
        "spoor_storage_retention_seconds",
        "spoor_storage_disk_budget_bytes",
        "spoor_storage_live_max_bytes",
        "spoor_storage_live_hard_max_bytes",
        "spoor_storage_live_max_traces",
        "spoor_storage_disk_bytes",
        "spoor_process_resident_memory_bytes",
    ]:
        assert stack.query(name)["data"]["result"], name
    (retention,) = stack.query("spoor_storage_retention_seconds")["data"]["result"]
    assert float(retention["value"][1]) == 72 * 3600
