"""The chart's split mode (mode: split) with a real Helm engine: collectors,
store nodes and query nodes on an existing Kafka, their arguments, ports and
environment, the store list the query nodes get, the Services Istio, Kiali,
the ingress, Grafana and the ServiceMonitor reach them by, and the clear
failure when no Kafka is given. (Strict Kubernetes validation and the
binary's acceptance of every role's config: test_manifests.py, through
conftest's split value sets.)

In: deploy/helm/spoor. Out: pytest results.
"""

import pytest
import yaml

from conftest import VALUE_SETS, find, render

ROLES = ("collector", "store", "query")
# Container ports by role: (name, port, protocol).
ROLE_PORTS = {
    "collector": {
        ("zipkin", 9411, "TCP"),
        ("otlp-grpc", 4317, "TCP"),
        ("otlp-http", 4318, "TCP"),
        ("jaeger-grpc", 14250, "TCP"),
        ("jaeger-thrift", 14268, "TCP"),
        ("admin", 14269, "TCP"),
        ("sampling-http", 5778, "TCP"),
        ("sampling-grpc", 5779, "TCP"),
        ("agent-compact", 6831, "UDP"),
        ("agent-binary", 6832, "UDP"),
    },
    "store": {("query-http", 16686, "TCP"), ("admin", 14269, "TCP")},
    "query": {("query-http", 16686, "TCP"), ("query-grpc", 16685, "TCP"), ("zipkin", 9411, "TCP"), ("admin", 14269, "TCP")},
}


def workloads(docs):
    """{role: workload} of a split render; fails unless there are exactly the three."""
    out = {}
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet"):
            role = d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
            assert role not in out, role
            out[role] = d
    assert sorted(out) == sorted(ROLES)
    return out


def selects(service, workload):
    labels = workload["spec"]["template"]["metadata"]["labels"]
    return all(labels.get(k) == v for k, v in service["spec"]["selector"].items())


def config_of(docs, workload):
    (c,) = workload["spec"]["template"]["spec"]["containers"]
    path = c["args"][c["args"].index("--config") + 1]
    (volume,) = [v for v in workload["spec"]["template"]["spec"]["volumes"] if v["name"] == "config"]
    cm = find(docs, "ConfigMap", volume["configMap"]["name"])[0]
    return yaml.safe_load(cm["data"][path.rsplit("/", 1)[1]])


@pytest.mark.parametrize("values", [{"mode": "split"}, {"mode": "split", "kafka": {"brokers": ""}}, {"mode": "split", "kafka": {"brokers": []}}])
def test_split_mode_without_brokers_fails_with_a_clear_message(chart, values):
    import helm_python

    with pytest.raises(helm_python.HelmError) as err:
        render(chart, values)
    assert "mode is split but kafka.brokers is empty" in str(err.value)


def test_each_role_runs_its_subcommand_with_its_ports(chart):
    docs = render(chart, VALUE_SETS["split"])
    w = workloads(docs)
    assert {r: (w[r]["kind"], w[r]["metadata"]["name"]) for r in ROLES} == {
        "collector": ("Deployment", "spoor-collector"),
        "store": ("StatefulSet", "spoor-store"),
        "query": ("Deployment", "spoor-query"),
    }
    assert (w["collector"]["spec"]["replicas"], w["store"]["spec"]["replicas"], w["query"]["spec"]["replicas"]) == (2, 3, 1)
    for role in ROLES:
        (c,) = w[role]["spec"]["template"]["spec"]["containers"]
        config = "/etc/spoor/query.yaml" if role == "query" else "/etc/spoor/config.yaml"
        assert c["args"] == ["--config", config, role], role
        assert {(p["name"], p["containerPort"], p["protocol"]) for p in c["ports"]} == ROLE_PORTS[role]
        assert w[role]["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == role
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        # Only the store keeps data.
        assert ("/var/lib/spoor" in mounts) == (role == "store"), role
        env = {e["name"]: e for e in c.get("env", [])}
        if role == "store":
            assert env["SPOOR_NODE_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
        else:
            assert "SPOOR_NODE_NAME" not in env
    # Nothing of all-in-one's.
    assert not [d for d in docs if d["metadata"]["name"] in ("spoor-headless",) or (d["kind"] == "Service" and d["metadata"]["name"] == "spoor")]


def test_extra_args_come_before_the_subcommand(chart):
    w = workloads(render(chart, VALUE_SETS["split-everything"]))
    for role in ROLES:
        (c,) = w[role]["spec"]["template"]["spec"]["containers"]
        assert c["args"][2:] == ["--log-level", "info", role]
        assert {"name": "SPOOR_RETENTION", "value": "96h"} in c["env"]


def test_store_statefulset_has_claims_and_a_headless_service(chart):
    docs = render(chart, VALUE_SETS["split-everything"])
    sts = workloads(docs)["store"]
    assert sts["spec"]["replicas"] == 4
    assert sts["spec"]["serviceName"] == "spoor-store-headless"
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "storage" and claim["spec"]["resources"]["requests"]["storage"] == "50Gi"
    assert claim["spec"]["storageClassName"] == "fast"
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Delete", "whenScaled": "Delete"}
    assert all(v["name"] != "storage" for v in sts["spec"]["template"]["spec"]["volumes"])
    headless = find(docs, "Service", "spoor-store-headless")[0]
    assert headless["spec"]["clusterIP"] == "None" and selects(headless, sts)
    assert {(p["name"], p["port"]) for p in headless["spec"]["ports"]} == {("http-query", 16686), ("http-admin", 14269)}
    # Without persistence: an emptyDir.
    sts = workloads(render(chart, {**VALUE_SETS["split"], "store": {"persistence": {"enabled": False}}}))["store"]
    assert "volumeClaimTemplates" not in sts["spec"]
    assert {"name": "storage", "emptyDir": {}} in sts["spec"]["template"]["spec"]["volumes"]


def test_roles_get_resources_of_their_own(chart):
    w = workloads(render(chart, VALUE_SETS["split-everything"]))
    (c,) = w["collector"]["spec"]["template"]["spec"]["containers"]
    # Helm merges the given values over the defaults.
    assert c["resources"] == {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
    (s,) = w["store"]["spec"]["template"]["spec"]["containers"]
    assert s["resources"] == {"requests": {"cpu": "100m", "memory": "512Mi"}}


def test_query_nodes_get_one_store_url_per_replica(chart):
    docs = render(chart, VALUE_SETS["split"])
    w = workloads(docs)
    query = config_of(docs, w["query"])
    assert query["cluster"]["query"]["stores"] == [
        "http://spoor-store-0.spoor-store-headless.istio-system.svc:16686",
        "http://spoor-store-1.spoor-store-headless.istio-system.svc:16686",
        "http://spoor-store-2.spoor-store-headless.istio-system.svc:16686",
    ]
    for role in ("collector", "store"):
        cfg = config_of(docs, w[role])
        assert "cluster" not in cfg, role
        assert cfg["data_dir"] == "/var/lib/spoor"
    for role in ROLES:
        kafka = config_of(docs, w[role])["kafka"]
        assert kafka == {
            "brokers": "kafka-0.kafka:9092,kafka-1.kafka:9092",
            "topic": "spoor-spans",
            "partitions": 8,
            "replication_factor": 1,
            "create_topic": True,
            "group_id": "spoor-store",
        }, role
    docs = render(chart, {**VALUE_SETS["split"], "store": {"replicas": 5}}, namespace="tracing")
    stores = config_of(docs, workloads(docs)["query"])["cluster"]["query"]["stores"]
    assert stores == [f"http://spoor-store-{i}.spoor-store-headless.tracing.svc:16686" for i in range(5)]


def test_kafka_values_and_config_reach_every_role(chart):
    docs = render(chart, VALUE_SETS["split-everything"])
    for role, w in workloads(docs).items():
        cfg = config_of(docs, w)
        assert cfg["kafka"]["brokers"] == "kafka-0.kafka:9092,kafka-1.kafka:9092"
        assert (cfg["kafka"]["topic"], cfg["kafka"]["partitions"], cfg["kafka"]["group_id"]) == ("spans", 12, "stores")
        assert cfg["kafka"]["client_properties"] == {"security.protocol": "plaintext"}
        assert cfg["kafka"]["consumer"] == {"max_batch_records": 500}
        assert cfg["storage"]["retention"] == "48h"
        assert cfg["query"]["http"]["base_path"] == "/jaeger"


def test_scaling_the_stores_rolls_the_query_nodes_only(chart):
    def checksums(values):
        w = workloads(render(chart, values))
        return {r: w[r]["spec"]["template"]["metadata"]["annotations"]["checksum/config"] for r in ROLES}

    before = checksums(VALUE_SETS["split"])
    after = checksums({**VALUE_SETS["split"], "store": {"replicas": 4}})
    assert before["query"] != after["query"]
    assert (before["collector"], before["store"]) == (after["collector"], after["store"])
    assert before["collector"] == before["store"]


def test_role_services_select_their_role(chart):
    docs = render(chart, VALUE_SETS["split"])
    w = workloads(docs)
    names = {"spoor-collector": "collector", "spoor-query": "query", "spoor-store-headless": "store"}
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    assert sorted(services) == sorted(names)
    for name, role in names.items():
        assert [r for r in ROLES if selects(services[name], w[r])] == [role], name
    ports = {p["port"] for p in services["spoor-collector"]["spec"]["ports"]}
    assert ports == {9411, 4317, 4318, 14250, 14268, 14269, 5778, 5779, 6831, 6832}
    assert {p["port"] for p in services["spoor-query"]["spec"]["ports"]} == {16686, 16685, 9411, 14269}


def test_service_monitor_scrapes_every_role_once(chart):
    docs = render(chart, VALUE_SETS["split-everything"])
    w = workloads(docs)
    (sm,) = find(docs, "ServiceMonitor")
    (endpoint,) = sm["spec"]["endpoints"]
    matched = [d for d in docs if d["kind"] == "Service" and sm["spec"]["selector"]["matchLabels"].items() <= d["metadata"]["labels"].items()]
    scraped = []
    for svc in matched:
        (port,) = [p for p in svc["spec"]["ports"] if p["name"] == endpoint["port"]]
        assert port["port"] == 14269
        for role in ROLES:
            if selects(svc, w[role]):
                (c,) = w[role]["spec"]["template"]["spec"]["containers"]
                assert {p["name"]: p["containerPort"] for p in c["ports"]}[port["targetPort"]] == 14269
                scraped.append(role)
    assert sorted(scraped) == sorted(ROLES)


def test_istio_services_point_at_query_and_collector_nodes(chart):
    docs = render(chart, VALUE_SETS["split-everything"])
    w = workloads(docs)
    want = {"tracing": "query", "zipkin": "collector", "jaeger-collector": "collector"}
    for name, role in want.items():
        svc = find(docs, "Service", name)[0]
        assert [r for r in ROLES if selects(svc, w[r])] == [role], name
        (c,) = w[role]["spec"]["template"]["spec"]["containers"]
        declared = {p["containerPort"] for p in c["ports"]}
        for p in svc["spec"]["ports"]:
            assert p.get("targetPort", p["port"]) in declared, (name, p)
    # istioctl dashboard jaeger: the first pod labelled app=jaeger, port 16686.
    assert [r for r in ROLES if w[r]["spec"]["template"]["metadata"]["labels"].get("app") == "jaeger"] == ["query"]
    for role in ROLES:
        assert w[role]["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"


def test_ingress_and_grafana_reach_the_query_nodes(chart):
    docs = render(chart, VALUE_SETS["split-everything"])
    ing = find(docs, "Ingress")[0]
    backends = {p["backend"]["service"]["name"] for r in ing["spec"]["rules"] for p in r["http"]["paths"]}
    assert backends == {"spoor-query"}
    (ds,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"].get("labels", {}).get("grafana_datasource") == "1"]
    jaeger = yaml.safe_load(ds["data"]["spoor-datasources.yaml"])["datasources"][0]
    assert jaeger["url"] == "http://spoor-query.istio-system:16686/jaeger"


def test_shared_objects_carry_no_all_in_one_component(chart):
    for d in render(chart, VALUE_SETS["split-everything"]):
        labels = d["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/component") in (None, *ROLES), (d["kind"], d["metadata"]["name"])


def test_long_names_stay_within_kubernetes_limits(chart):
    values = {**VALUE_SETS["split"], "fullnameOverride": "a" * 63}
    docs = render(chart, values)
    w = workloads(docs)
    for d in docs:
        assert len(d["metadata"]["name"]) <= 63, d["metadata"]["name"]
    sts = w["store"]["metadata"]["name"]
    # Pod names <sts>-<i> and the controller-revision-hash label <sts>-<10 characters>.
    assert len(sts) + 11 <= 63
    stores = config_of(docs, w["query"])["cluster"]["query"]["stores"]
    headless = [d["metadata"]["name"] for d in docs if d["kind"] == "Service" and d["spec"].get("clusterIP") == "None"]
    assert stores[0] == f"http://{sts}-0.{headless[0]}.istio-system.svc:16686"
    assert w["store"]["spec"]["serviceName"] == headless[0]
