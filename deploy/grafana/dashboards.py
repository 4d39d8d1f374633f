#!/usr/bin/env python3
"""Writes Spoor's Grafana dashboards (JSON) from the panel lists below.

In: nothing but this file. Out: deploy/grafana/dashboards/*.json and the
identical copies the Helm chart ships (deploy/helm/spoor/files/dashboards/).
Run it after editing a panel; deploy/tests checks that the committed JSON is
what this script writes.

  python3 deploy/grafana/dashboards.py            # writes both folders
  python3 deploy/grafana/dashboards.py OUT_DIR    # writes OUT_DIR only
"""

import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
OUTPUTS = [HERE / "dashboards", HERE.parent / "helm" / "spoor" / "files" / "dashboards"]

DS = {"type": "prometheus", "uid": "${datasource}"}
CALLS = "traces_span_metrics_calls_total"
DURATION = "traces_span_metrics_duration_${latency_unit}"
RATE = "[$__rate_interval]"
RANGE = "[$__range]"
REQUESTS = "traces_service_graph_request_total"
FAILED = "traces_service_graph_request_failed_total"
SERVER_SECONDS = "traces_service_graph_request_server_seconds"
CLIENT_SECONDS = "traces_service_graph_request_client_seconds"


def datasource_var():
    return {
        "name": "datasource",
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
    }


def query_var(name, label, query, all_value=".+"):
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": {"query": query, "refId": name},
        "definition": query,
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "allValue": all_value,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
        "hide": 0,
    }


def custom_var(name, label, values, default, multi=False, all_value=None):
    var = {
        "name": name,
        "label": label,
        "type": "custom",
        "query": ",".join(values),
        "options": [{"text": v, "value": v, "selected": v == default} for v in values],
        "current": {"text": default, "value": default, "selected": True},
        "multi": multi,
        "includeAll": all_value is not None,
        "hide": 0,
    }
    if all_value is not None:
        var["allValue"] = all_value
    return var


def target(expr, legend, ref, instant=False):
    t = {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref}
    if instant:
        t.update({"instant": True, "range": False, "format": "table"})
    return t


class Layout:
    """Places panels on Grafana's 24-column grid, row by row."""

    def __init__(self):
        self.panels = []
        self.x = 0
        self.y = 0
        self.row_height = 0

    def row(self, title):
        self.newline()
        self.panels.append(
            {
                "type": "row",
                "title": title,
                "collapsed": False,
                "id": len(self.panels) + 1,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
                "panels": [],
            }
        )
        self.y += 1

    def newline(self):
        self.y += self.row_height
        self.x = 0
        self.row_height = 0

    def add(self, title, targets, unit="short", width=12, height=8, kind="timeseries", desc=""):
        if self.x + width > 24:
            self.newline()
        panel = {
            "type": kind,
            "title": title,
            "description": desc,
            "id": len(self.panels) + 1,
            "datasource": DS,
            "gridPos": {"h": height, "w": width, "x": self.x, "y": self.y},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {},
            "targets": [
                target(e, legend, chr(ord("A") + i), instant=kind == "table")
                for i, (e, legend) in enumerate(targets)
            ],
        }
        if kind == "timeseries":
            panel["options"] = {"legend": {"displayMode": "list", "placement": "bottom"}}
        self.panels.append(panel)
        self.x += width
        self.row_height = max(self.row_height, height)


def dashboard(uid, title, description, variables, layout, tags):
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["spoor"] + tags,
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": variables},
        "panels": layout.panels,
    }


def rate_sum(metric, by, sel, window=RATE):
    """Per-second rate of counter `metric` (selected by `sel`), summed by `by`."""
    return f"sum by ({by}) (rate({metric}{{{sel}}}{window}))"


def ratio(metric, by, part, whole, window=RATE):
    """The rate of `metric` selected by `part` over its rate selected by `whole`."""
    return f"{rate_sum(metric, by, part, window)} / {rate_sum(metric, by, whole, window)}"


def quantile_of(q, histogram, by, sel, window=RATE):
    """Quantile `q` of `histogram`'s buckets (selected by `sel`), by `by` (may be empty)."""
    keep = "le" + (", " + by if by else "")
    return f"histogram_quantile({q}, sum by ({keep}) (rate({histogram}_bucket{{{sel}}}{window})))"


def labels(by):
    """The legend naming each label of `by` ("a, b" -> "{{a}} {{b}}")."""
    return " ".join("{{" + name + "}}" for name in by.split(", "))


def red():
    sel = 'service_name=~"$service", span_name=~"$span_name", span_kind=~"$span_kind"'
    err = sel + ', status_code="STATUS_CODE_ERROR"'
    ops = "service_name, span_name"
    l = Layout()
    l.row("Services")
    l.add(
        "Spans per second by service",
        [(rate_sum(CALLS, "service_name", sel), labels("service_name"))],
        unit="reqps",
        width=8,
    )
    l.add(
        "Error ratio by service",
        [(ratio(CALLS, "service_name", err, sel), labels("service_name"))],
        unit="percentunit",
        width=8,
    )
    l.add(
        "p95 duration by service (${latency_unit})",
        [(quantile_of(0.95, DURATION, "service_name", sel), labels("service_name"))],
        unit="none",
        width=8,
        desc="In the histogram's own unit: milliseconds (Spoor, OpenTelemetry connector default) or seconds.",
    )
    l.add(
        "Duration percentiles, all selected services (${latency_unit})",
        [
            (quantile_of(q, DURATION, "", sel), f"p{p}")
            for q, p in [(0.5, "50"), (0.95, "95"), (0.99, "99")]
        ],
        unit="none",
    )
    l.add(
        "Mean duration by service (${latency_unit})",
        [
            (
                f"sum by (service_name) (rate({DURATION}_sum{{{sel}}}{RATE})) / sum by (service_name) (rate({DURATION}_count{{{sel}}}{RATE}))",
                "{{service_name}}",
            )
        ],
        unit="none",
    )
    l.row("Operations")
    l.add(
        "Operations",
        [
            (rate_sum(CALLS, ops, sel, RANGE), "rate"),
            (ratio(CALLS, ops, err, sel, RANGE), "error ratio"),
            (quantile_of(0.95, DURATION, ops, sel, RANGE), "p95"),
        ],
        width=24,
        kind="table",
        desc="Rate, error ratio and p95 duration per operation over the dashboard's time range.",
    )
    l.add(
        "Top 10 operations by rate",
        [(f"topk(10, {rate_sum(CALLS, ops, sel)})", labels(ops))],
        unit="reqps",
        width=8,
    )
    l.add(
        "Errors per second by operation",
        [(rate_sum(CALLS, ops, err), labels(ops))],
        unit="reqps",
        width=8,
    )
    l.add(
        "p95 duration by operation (${latency_unit})",
        [(quantile_of(0.95, DURATION, ops, sel), labels(ops))],
        unit="none",
        width=8,
    )
    l.add(
        "Spans per second by status",
        [(rate_sum(CALLS, "status_code", sel), labels("status_code"))],
        unit="reqps",
    )
    l.add(
        "Spans per second by kind",
        [(rate_sum(CALLS, "span_kind", 'service_name=~"$service", span_name=~"$span_name"'), labels("span_kind"))],
        unit="reqps",
    )
    variables = [
        datasource_var(),
        query_var("service", "Service", f"label_values({CALLS}, service_name)"),
        custom_var(
            "span_kind",
            "Span kind",
            ["SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "SPAN_KIND_CONSUMER", "SPAN_KIND_PRODUCER", "SPAN_KIND_INTERNAL", "SPAN_KIND_UNSPECIFIED"],
            "SPAN_KIND_SERVER",
            multi=True,
            all_value=".+",
        ),
        query_var("span_name", "Operation", f'label_values({CALLS}{{service_name=~"$service"}}, span_name)', all_value=".*"),
        custom_var("latency_unit", "Histogram unit", ["milliseconds", "seconds"], "milliseconds"),
    ]
    return dashboard(
        "spoor-red",
        "Spoor / RED by service and operation",
        "Rate, errors and duration from the OpenTelemetry span-metrics series Spoor serves on its admin /metrics "
        "(traces_span_metrics_calls_total, traces_span_metrics_duration_<unit>).",
        variables,
        l,
        ["red", "spanmetrics"],
    )


def service_graph():
    sel = 'client=~"$client", server=~"$server"'
    edge = "client, server"
    arrow = "{{client}} → {{server}}"
    l = Layout()
    l.row("Calls between services")
    l.add(
        "Edges",
        [
            (rate_sum(REQUESTS, edge, sel, RANGE), "rate"),
            (
                f"({rate_sum(FAILED, edge, sel, RANGE)} or {rate_sum(REQUESTS, edge, sel, RANGE)} * 0)"
                f" / {rate_sum(REQUESTS, edge, sel, RANGE)}",
                "failed ratio",
            ),
            (quantile_of(0.95, SERVER_SECONDS, edge, sel, RANGE), "server p95"),
        ],
        width=24,
        kind="table",
        desc="Every caller → callee pair over the dashboard's time range.",
    )
    l.add(
        "Requests per second by edge",
        [(rate_sum(REQUESTS, edge, sel), arrow)],
        unit="reqps",
    )
    l.add(
        "Failed requests per second by edge",
        [(rate_sum(FAILED, edge, sel), arrow)],
        unit="reqps",
    )
    l.add(
        "Server p95 by edge",
        [(quantile_of(0.95, SERVER_SECONDS, edge, sel), arrow)],
        unit="s",
    )
    l.add(
        "Client p95 by edge",
        [(quantile_of(0.95, CLIENT_SECONDS, edge, sel), arrow)],
        unit="s",
    )
    l.add(
        "Incoming requests per second by service",
        [(rate_sum(REQUESTS, "server", sel), labels("server"))],
        unit="reqps",
    )
    l.add(
        "Requests per second by connection type",
        [
            (
                f'sum by (connection_type) (label_replace(rate({REQUESTS}{{{sel}}}{RATE}), "connection_type", "traced", "connection_type", ""))',
                "{{connection_type}}",
            )
        ],
        unit="reqps",
        desc="traced: both sides sent spans; messaging_system, database, virtual_node: see docs/metrics.md.",
    )
    variables = [
        datasource_var(),
        query_var("client", "Client", "label_values(traces_service_graph_request_total, client)"),
        query_var("server", "Server", "label_values(traces_service_graph_request_total, server)"),
    ]
    return dashboard(
        "spoor-service-graph",
        "Spoor / Service graph",
        "Calls between services from the OpenTelemetry service-graph series Spoor serves "
        "(traces_service_graph_request_total, _failed_total, _server_seconds, _client_seconds).",
        variables,
        l,
        ["servicegraph"],
    )


def health():
    sel = 'job=~"$job", instance=~"$instance"'
    l = Layout()

    def rate(metric, by):
        return rate_sum(metric, by, sel)

    def quantile(q, metric, by):
        return quantile_of(q, metric, by, sel)

    l.row("Ingest")
    l.add("Spans received per second by receiver", [(rate("spoor_receiver_spans_received_total", "receiver"), "{{receiver}}")], unit="reqps", width=8)
    l.add("Spans accepted per second by receiver", [(rate("spoor_receiver_spans_accepted_total", "receiver"), "{{receiver}}")], unit="reqps", width=8)
    l.add(
        "Spans rejected per second by receiver and reason",
        [(rate("spoor_receiver_spans_rejected_total", "receiver, reason"), "{{receiver}} {{reason}}")],
        unit="reqps",
        width=8,
        desc="overloaded, storage_error, shutting_down: lost unless the client retries; invalid: bad ids; sampled: dropped by the ingest rate.",
    )
    l.add("Requests per second by outcome", [(rate("spoor_receiver_requests_total", "receiver, outcome"), "{{receiver}} {{outcome}}")], unit="reqps")
    l.add("Receiver p99 answer time", [(quantile(0.99, "spoor_receiver_request_duration_seconds", "receiver"), "{{receiver}}")], unit="s")
    l.row("Pipeline and writes")
    l.add(
        "Ingest queue",
        [
            (f"sum by (instance) (spoor_pipeline_queue_depth{{{sel}}})", "depth {{instance}}"),
            (f"sum by (instance) (spoor_pipeline_queue_capacity{{{sel}}})", "capacity {{instance}}"),
        ],
        width=8,
    )
    l.add(
        "Write latency",
        [
            (quantile(0.5, "spoor_pipeline_write_duration_seconds", ""), "group commit p50"),
            (quantile(0.99, "spoor_pipeline_write_duration_seconds", ""), "group commit p99"),
            (quantile(0.99, "spoor_storage_write_duration_seconds", ""), "write-ahead p99"),
        ],
        unit="s",
        width=8,
    )
    l.add(
        "Write stalls and refusals",
        [
            (f"max by (instance) (spoor_storage_write_stalled{{{sel}}})", "RocksDB stall {{instance}}"),
            (rate("spoor_storage_writes_refused_total", "instance"), "refused/s {{instance}}"),
        ],
        width=8,
    )
    l.add("Spans per group commit (p50)", [(quantile(0.5, "spoor_pipeline_batch_spans", ""), "p50")])
    l.add(
        "Flush to partitions",
        [
            (rate("spoor_storage_traces_flushed_total", "instance"), "traces/s {{instance}}"),
            (quantile(0.99, "spoor_storage_flush_duration_seconds", ""), "flush p99 (s)"),
        ],
    )
    l.row("Memory and disk")
    l.add(
        "Live buffer bytes",
        [
            (f"sum by (instance) (spoor_storage_live_bytes{{{sel}}})", "used {{instance}}"),
            (f"max by (instance) (spoor_storage_live_max_bytes{{{sel}}})", "flush early above {{instance}}"),
            (f"max by (instance) (spoor_storage_live_hard_max_bytes{{{sel}}})", "refuse above {{instance}}"),
        ],
        unit="bytes",
        width=8,
    )
    l.add(
        "Live buffer traces",
        [
            (f"sum by (instance) (spoor_storage_live_traces{{{sel}}})", "traces {{instance}}"),
            (f"max by (instance) (spoor_storage_live_max_traces{{{sel}}})", "limit {{instance}}"),
        ],
        width=8,
    )
    l.add(
        "Resident memory",
        [(f"sum by (instance) (spoor_process_resident_memory_bytes{{{sel}}})", "{{instance}}")],
        unit="bytes",
        width=8,
    )
    l.add(
        "Disk",
        [
            (f"sum by (instance) (spoor_storage_disk_bytes{{{sel}}})", "used {{instance}}"),
            (f"max by (instance) (spoor_storage_disk_budget_bytes{{{sel}}} > 0)", "budget {{instance}}"),
        ],
        unit="bytes",
        width=8,
    )
    l.add(
        "Retention",
        [
            (f"max by (instance) (spoor_storage_retention_seconds{{{sel}}})", "retention {{instance}}"),
            (f"max by (instance) (spoor_process_uptime_seconds{{{sel}}})", "uptime {{instance}}"),
        ],
        unit="s",
        width=8,
    )
    l.add(
        "Partitions",
        [
            (f"sum by (instance) (spoor_storage_partitions{{{sel}}})", "on disk {{instance}}"),
            (f"sum by (reason) (increase(spoor_storage_partitions_dropped_total{{{sel}}}[1h]))", "dropped in 1h ({{reason}})"),
        ],
        width=8,
    )
    l.row("Sampling")
    l.add(
        "Tail decisions: traces per second by policy",
        [
            (rate("spoor_sampling_traces_kept_total", "policy"), "kept {{policy}}"),
            (rate("spoor_sampling_traces_dropped_total", "policy"), "dropped {{policy}}"),
        ],
        unit="reqps",
        width=8,
    )
    l.add(
        "Spans kept and dropped by stage",
        [
            (rate("spoor_sampling_spans_kept_total", "stage"), "kept {{stage}}"),
            (rate("spoor_sampling_spans_dropped_total", "stage"), "dropped {{stage}}"),
            (rate("spoor_sampling_late_spans_total", "decision"), "late, {{decision}}"),
        ],
        unit="reqps",
        width=8,
    )
    l.add(
        "Tail-sampling buffer pressure",
        [
            (rate("spoor_sampling_early_decisions_total", "instance"), "early decisions/s {{instance}}"),
            (f"sum by (instance) (spoor_sampling_decision_cache_entries{{{sel}}})", "remembered decisions {{instance}}"),
        ],
        width=8,
        desc="Early decisions: the buffer (storage.live_max_bytes / live_max_traces) was full before the decision wait ended.",
    )
    l.add("Decision delay p95", [(quantile(0.95, "spoor_sampling_decision_delay_seconds", ""), "p95")], unit="s")
    l.add("Strategy requests per second", [(rate("spoor_sampling_strategy_requests_total", "transport"), "{{transport}}")], unit="reqps")
    l.row("Queries and analytics")
    l.add("Query requests per second", [(rate("spoor_query_requests_total", "route, status"), "{{route}} {{status}}")], unit="reqps", width=8)
    l.add("Query p95 by route", [(quantile(0.95, "spoor_query_request_duration_seconds", "route"), "{{route}}")], unit="s", width=8)
    l.add(
        "Analytics",
        [
            (f"sum by (instance) (spoor_analytics_pending_spans{{{sel}}})", "held for pairing {{instance}}"),
            (rate("spoor_analytics_overflow_spans_total", "instance"), "overflow spans/s {{instance}}"),
        ],
        width=8,
    )
    variables = [
        datasource_var(),
        query_var("job", "Job", "label_values(spoor_process_uptime_seconds, job)"),
        query_var("instance", "Instance", 'label_values(spoor_process_uptime_seconds{job=~"$job"}, instance)'),
    ]
    return dashboard(
        "spoor-health",
        "Spoor / Health",
        "Spoor's own metrics (docs/metrics.md): ingest and refusals per receiver, queue, writes and stalls, "
        "live buffer, disk and retention, tail sampling, queries, memory.",
        variables,
        l,
        ["health"],
    )


def main():
    outputs = [pathlib.Path(sys.argv[1])] if len(sys.argv) > 1 else OUTPUTS
    boards = {"spoor-red.json": red(), "spoor-service-graph.json": service_graph(), "spoor-health.json": health()}
    for out in outputs:
        out.mkdir(parents=True, exist_ok=True)
        for name, board in boards.items():
            (out / name).write_text(json.dumps(board, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
