"""The split mode's rendered roles running for real: the chart rendered with
a real Helm engine, its ConfigMap's files and each container's arguments and
environment given to the spoor binary unchanged (only the config path, the
data directory and the listen addresses moved to this machine's loopback,
and the query node's store URL, whose cluster DNS name does not resolve
here), on a real Kafka-protocol broker (tansu, installed by
scripts/install-kafka-tools.sh; scripts/find-tansu.sh finds it). A span sent
to the collector must come back from the store node and through the query
node.

In: the chart, $DEPLOY_SPOOR_BIN, tansu. Out: pytest results.
"""

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import yaml

from conftest import ROOT, find, render

LISTEN_ENV = [
    "SPOOR_OTLP_GRPC_ADDR",
    "SPOOR_OTLP_HTTP_ADDR",
    "SPOOR_ZIPKIN_ADDR",
    "SPOOR_QUERY_HTTP_ADDR",
    "SPOOR_QUERY_GRPC_ADDR",
    "SPOOR_ADMIN_ADDR",
    "SPOOR_SAMPLING_HTTP_ADDR",
    "SPOOR_SAMPLING_GRPC_ADDR",
    "SPOOR_JAEGER_GRPC_ADDR",
    "SPOOR_JAEGER_THRIFT_HTTP_ADDR",
    "SPOOR_AGENT_COMPACT_ADDR",
    "SPOOR_AGENT_BINARY_ADDR",
]
# Waits for a process to come up or a span to arrive; generous, never a timing assertion.
WAIT = 60


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


def wait_for(what, check, procs):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        for p in procs:
            assert p.poll() is None, f"{p.args} exited {p.returncode}"
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {WAIT} s")


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return None, b""


@pytest.fixture
def broker(tmp_path):
    found = subprocess.run(["bash", str(ROOT / "scripts" / "find-tansu.sh")], capture_output=True, text=True, timeout=30)
    assert found.returncode == 0, f"the tansu broker is not installed ({found.stderr.strip()}): run scripts/install-kafka-tools.sh"
    addr = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        [found.stdout.strip(), "broker", "--storage-engine", "memory://tansu/", "--listener-url", f"tcp://{addr}", "--advertised-listener-url", f"tcp://{addr}"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "RUST_LOG": "warn"},
        stdout=subprocess.DEVNULL,
    )
    try:
        host, port = addr.split(":")
        wait_for("broker", lambda: socket.socket().connect_ex((host, int(port))) == 0, [proc])
        yield addr
    finally:
        proc.kill()
        proc.wait()


def start(spoor_bin, tmp_path, docs, workload, pod_name, extra_env=None):
    """Runs a workload's container as the pod would, on loopback; returns (process, ports)."""
    (c,) = workload["spec"]["template"]["spec"]["containers"]
    (volume,) = [v for v in workload["spec"]["template"]["spec"]["volumes"] if v["name"] == "config"]
    cm = find(docs, "ConfigMap", volume["configMap"]["name"])[0]
    args = list(c["args"])
    at = args.index("--config") + 1
    name = args[at].rsplit("/", 1)[1]
    cfg = tmp_path / f"{pod_name}-{name}"
    cfg.write_text(cm["data"][name])
    args[at] = str(cfg)
    env = {"PATH": "/usr/bin:/bin", "SPOOR_DATA_DIR": str(tmp_path / f"{pod_name}-data")}
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        else:
            # The downward API: the pod's name.
            assert e["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}, e
            env[e["name"]] = pod_name
    ports = {}
    for var in LISTEN_ENV:
        ports[var] = free_port()
        env[var] = f"127.0.0.1:{ports[var]}"
    env.update(extra_env or {})
    log = open(tmp_path / f"{pod_name}.log", "w")
    proc = subprocess.Popen([spoor_bin, *args], env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, ports


def test_rendered_roles_carry_a_span_through_kafka(spoor_bin, tmp_path, chart, broker):
    docs = render(chart, {"mode": "split", "kafka": {"brokers": broker, "partitions": 2}, "store": {"replicas": 1}})
    kinds = {d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in docs if d["kind"] in ("Deployment", "StatefulSet")}
    procs = []
    try:
        store, store_ports = start(spoor_bin, tmp_path, docs, kinds["store"], "spoor-store-0")
        procs.append(store)
        collector, collector_ports = start(spoor_bin, tmp_path, docs, kinds["collector"], "spoor-collector-0")
        procs.append(collector)
        # The rendered list names the store by its cluster DNS name; here it is on loopback.
        query_cfg = yaml.safe_load(find(docs, "ConfigMap", "spoor")[0]["data"]["query.yaml"])
        assert query_cfg["cluster"]["query"]["stores"] == ["http://spoor-store-0.spoor-store-headless.istio-system.svc:16686"]
        local_store = f"http://127.0.0.1:{store_ports['SPOOR_QUERY_HTTP_ADDR']}"
        query, query_ports = start(spoor_bin, tmp_path, docs, kinds["query"], "spoor-query-0", {"SPOOR_CLUSTER_STORES": local_store})
        procs.append(query)
        for ports in (store_ports, collector_ports, query_ports):
            wait_for("healthy admin port", lambda: get(f"http://127.0.0.1:{ports['SPOOR_ADMIN_ADDR']}/")[0] == 200, procs)

        trace_id = os.urandom(16).hex()
        now = int(time.time() * 1_000_000)
        span = {"traceId": trace_id, "id": os.urandom(8).hex(), "name": "get /chart", "timestamp": now, "duration": 1500, "kind": "SERVER", "localEndpoint": {"serviceName": "helm-split"}}
        req = urllib.request.Request(
            f"http://127.0.0.1:{collector_ports['SPOOR_ZIPKIN_ADDR']}/api/v2/spans",
            data=json.dumps([span]).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 202

        for node, ports in (("store", store_ports), ("query", query_ports)):
            url = f"http://127.0.0.1:{ports['SPOOR_QUERY_HTTP_ADDR']}/api/traces/{trace_id}"

            def found():
                status, body = get(url)
                return status == 200 and json.loads(body)["data"]

            (trace,) = wait_for(f"trace on the {node} node", found, procs)
            (got,) = trace["spans"]
            assert got["operationName"] == "get /chart", node
            assert trace["processes"][got["processID"]]["serviceName"] == "helm-split", node
        # The query node's Zipkin read API too.
        status, body = get(f"http://127.0.0.1:{query_ports['SPOOR_ZIPKIN_ADDR']}/api/v2/trace/{trace_id}")
        assert status == 200, body
        assert [s["name"] for s in json.loads(body)] == ["get /chart"]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for log in tmp_path.glob("*.log"):
            print(log.name, log.read_text()[-3000:])
