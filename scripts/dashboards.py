#!/usr/bin/env python3
"""Generates the Grafana dashboards in dashboards/ (importable JSON).

Run `python3 scripts/dashboards.py` after changing a panel; commit the JSON it writes.
The operator-kit test checks every dashboard for the conventions in docs/dashboards.md and
that every metric it queries exists in the metrics catalogue.
"""
import json
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'instance=~"$instance"'


def variables():
    def query_var(name, label, query, include_all=True):
        return {
            "name": name,
            "label": label,
            "type": "query",
            "datasource": DS,
            "query": {"query": query, "refId": f"var-{name}"},
            "definition": query,
            "refresh": 2,
            "includeAll": include_all,
            "multi": include_all,
            "allValue": ".*",
            "current": {"text": "All", "value": "$__all"} if include_all else {},
            "sort": 1,
        }

    return {
        "list": [
            {
                "name": "datasource",
                "label": "Data source",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "hide": 0,
            },
            query_var("cluster", "Cluster", "label_values(kafka_node_info, cluster_id)"),
            query_var("role", "Role", 'label_values(kafka_node_info{cluster_id=~"$cluster"}, roles)'),
            query_var(
                "instance",
                "Instance",
                'label_values(kafka_node_info{cluster_id=~"$cluster", roles=~"$role"}, instance)',
            ),
        ]
    }


class Layout:
    def __init__(self):
        self.y = 0
        self.x = 0
        self.row_h = 0
        self.next_id = 1

    def place(self, w, h):
        if self.x + w > 24:
            self.x = 0
            self.y += self.row_h
            self.row_h = 0
        pos = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos

    def new_row(self):
        if self.x:
            self.x = 0
            self.y += self.row_h
            self.row_h = 0

    def id(self):
        i = self.next_id
        self.next_id += 1
        return i


def panel(layout, kind, title, description, unit, targets, w=8, h=8, extra=None):
    p = {
        "id": layout.id(),
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": layout.place(w, h),
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(targets)
        ],
    }
    if kind == "table":
        for t in p["targets"]:
            t["format"] = "table"
            t["instant"] = True
    if extra:
        p.update(extra)
    return p


def row(layout, title):
    layout.new_row()
    r = {"id": layout.id(), "type": "row", "title": title, "collapsed": False, "panels": [],
         "gridPos": {"x": 0, "y": layout.y, "w": 24, "h": 1}}
    layout.y += 1
    return r


def dashboard(uid, title, description, panels, links):
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["kraftd"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "",
        "templating": variables(),
        "annotations": {"list": []},
        "links": links,
        "panels": panels,
    }


def link(title, uid):
    return {"title": title, "type": "link", "url": f"/d/{uid}?${{__url_time_range}}&${{__all_variables}}",
            "targetBlank": False, "asDropdown": False, "includeVars": False, "keepTime": False,
            "tags": [], "icon": "dashboard"}


LINKS = [
    link("Cluster overview", "kraftd-cluster-overview"),
    link("Broker", "kraftd-broker"),
]


def cluster_overview():
    l = Layout()
    p = [row(l, "Nodes")]
    p.append(panel(l, "stat", "Nodes up",
                   "Scraped kraftd nodes that answer (`up`). Fewer than expected: see runbook KafkaTargetDown.",
                   "none", [(f'count(up{{job=~"kraftd.*", {SEL}}} == 1)', "up")], w=4, h=5))
    p.append(panel(l, "stat", "Restarts (30m)",
                   "Process restarts in the last 30 minutes across nodes (`process_start_time_seconds`). "
                   "See runbook KafkaNodeRestartingOften.",
                   "none", [(f"sum(changes(process_start_time_seconds{{{SEL}}}[30m]))", "restarts")], w=4, h=5))
    p.append(panel(l, "table", "Nodes",
                   "One row per node from `kafka_node_info`: node id, roles, cluster id, version.",
                   "none", [(f"kafka_node_info{{{SEL}}}", "")], w=16, h=5))
    p.append(row(l, "Traffic"))
    p.append(panel(l, "timeseries", "Requests by API",
                   "Requests per second by Kafka API (`kafka_network_requests_total`).",
                   "reqps", [(f"sum by (request) (rate(kafka_network_requests_total{{{SEL}}}[$__rate_interval]))",
                              "{{request}}")]))
    p.append(panel(l, "timeseries", "Request latency p99 by API",
                   "99th percentile of request handling time (`kafka_network_request_duration_seconds`).",
                   "s", [("histogram_quantile(0.99, sum by (le, request) "
                          f"(rate(kafka_network_request_duration_seconds_bucket{{{SEL}}}[$__rate_interval])))",
                          "{{request}}")]))
    p.append(panel(l, "timeseries", "Request errors by API",
                   "Responses carrying an error code per second (`kafka_network_request_errors_total`).",
                   "reqps", [(f"sum by (request, error) (rate(kafka_network_request_errors_total{{{SEL}}}[$__rate_interval]))",
                              "{{request}} {{error}}")]))
    p.append(row(l, "Saturation"))
    p.append(panel(l, "timeseries", "Connections by listener",
                   "Open client connections per node and listener (`kafka_network_connections`).",
                   "none", [(f"sum by (instance, listener) (kafka_network_connections{{{SEL}}})",
                              "{{instance}} {{listener}}")]))
    p.append(panel(l, "timeseries", "CPU",
                   "CPU time per second used by each node (`process_cpu_seconds_total`).",
                   "percentunit", [(f"rate(process_cpu_seconds_total{{{SEL}}}[$__rate_interval])", "{{instance}}")]))
    p.append(panel(l, "timeseries", "Resident memory",
                   "Resident memory of each node (`process_resident_memory_bytes`).",
                   "bytes", [(f"process_resident_memory_bytes{{{SEL}}}", "{{instance}}")]))
    return dashboard("kraftd-cluster-overview", "kraftd / Cluster overview",
                     "Open first: node health, traffic and saturation of a kraftd cluster.", p, LINKS)


def broker():
    l = Layout()
    p = [row(l, "Process")]
    p.append(panel(l, "timeseries", "File descriptors used",
                   "Open file descriptors as a share of the limit (`process_open_fds` / `process_max_fds`). "
                   "Above 80%: runbook KafkaFileDescriptorsNearLimit.",
                   "percentunit", [(f"process_open_fds{{{SEL}}} / process_max_fds{{{SEL}}}", "{{instance}}")]))
    p.append(panel(l, "timeseries", "CPU",
                   "CPU time per second (`process_cpu_seconds_total`).",
                   "percentunit", [(f"rate(process_cpu_seconds_total{{{SEL}}}[$__rate_interval])", "{{instance}}")]))
    p.append(panel(l, "timeseries", "Threads",
                   "OS threads of the process (`process_threads`).",
                   "none", [(f"process_threads{{{SEL}}}", "{{instance}}")]))
    p.append(row(l, "Network"))
    p.append(panel(l, "timeseries", "Requests by API",
                   "Requests per second by node and API (`kafka_network_requests_total`).",
                   "reqps", [(f"sum by (instance, request) (rate(kafka_network_requests_total{{{SEL}}}[$__rate_interval]))",
                              "{{instance}} {{request}}")]))
    p.append(panel(l, "timeseries", "Request latency p50 / p99",
                   "Median and 99th percentile of request handling time (`kafka_network_request_duration_seconds`).",
                   "s", [("histogram_quantile(0.5, sum by (le, instance) "
                          f"(rate(kafka_network_request_duration_seconds_bucket{{{SEL}}}[$__rate_interval])))",
                          "p50 {{instance}}"),
                         ("histogram_quantile(0.99, sum by (le, instance) "
                          f"(rate(kafka_network_request_duration_seconds_bucket{{{SEL}}}[$__rate_interval])))",
                          "p99 {{instance}}")]))
    p.append(panel(l, "timeseries", "Connections closed for bad requests",
                   "Connections closed after malformed, oversized or unsupported requests per second "
                   "(`kafka_network_malformed_requests_total`).",
                   "reqps", [(f"sum by (instance, listener, reason) (rate(kafka_network_malformed_requests_total{{{SEL}}}[$__rate_interval]))",
                              "{{instance}} {{listener}} {{reason}}")]))
    return dashboard("kraftd-broker", "kraftd / Broker",
                     "Per-instance drill-down: process resources and request handling.", p, LINKS)


def main():
    out = os.path.join(ROOT, "dashboards")
    os.makedirs(out, exist_ok=True)
    for d in (cluster_overview(), broker()):
        with open(os.path.join(out, d["uid"] + ".json"), "w") as f:
            json.dump(d, f, indent=2, sort_keys=False)
            f.write("\n")


if __name__ == "__main__":
    main()
