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


def variables(extra=()):
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
            *extra,
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


def dashboard(uid, title, description, panels, links, extra_variables=()):
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
        "templating": variables(extra_variables),
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
    link("Quorum", "kraftd-quorum"),
    link("Broker", "kraftd-broker"),
    link("Topics", "kraftd-topics"),
    link("Consumer groups", "kraftd-consumer-groups"),
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
    p.append(row(l, "Controller and partitions"))
    p.append(panel(l, "stat", "Brokers active / fenced",
                   "Registered brokers by state as the active controller sees them "
                   "(`kafka_controller_brokers` where `kafka_controller_active_controllers` is 1). "
                   "Fenced for 5 minutes: runbook KRaftFencedBrokers.",
                   "none", [(f'max by (state) (kafka_controller_brokers{{{SEL}}} and on (instance) '
                             f'(kafka_controller_active_controllers{{{SEL}}} == 1))', "{{state}}")], w=8, h=5))
    p.append(panel(l, "stat", "Offline partitions",
                   "Partitions without a leader on the active controller (`kafka_controller_offline_partitions`). "
                   "Above 0: runbook KafkaOfflinePartitions.",
                   "none", [(f'max(kafka_controller_offline_partitions{{{SEL}}} and on (instance) '
                             f'(kafka_controller_active_controllers{{{SEL}}} == 1))', "offline")], w=4, h=5))
    p.append(panel(l, "stat", "Topics / partitions",
                   "Topics and partitions in the cluster on the active controller "
                   "(`kafka_controller_topics`, `kafka_controller_partitions`).",
                   "none", [(f'max(kafka_controller_topics{{{SEL}}} and on (instance) '
                             f'(kafka_controller_active_controllers{{{SEL}}} == 1))', "topics"),
                            (f'max(kafka_controller_partitions{{{SEL}}} and on (instance) '
                             f'(kafka_controller_active_controllers{{{SEL}}} == 1))', "partitions")], w=6, h=5))
    p.append(panel(l, "timeseries", "Unclean leader elections",
                   "Leaders elected from outside the ISR (`kafka_controller_unclean_leader_elections_total`). "
                   "Any: runbook KafkaUncleanLeaderElection.",
                   "none", [(f"sum(increase(kafka_controller_unclean_leader_elections_total{{{SEL}}}[$__rate_interval]))", "unclean")],
                   w=6, h=5))
    p.append(panel(l, "timeseries", "Leader elections by cause",
                   "Partitions given a new leader by the active controller "
                   "(`kafka_controller_partition_leader_elections_total`), by cause: new_topic, broker_fenced, "
                   "controlled_shutdown, leaderless, preferred (ElectLeaders or the automatic rebalance), unclean. "
                   "Steps of broker_fenced follow crashes; preferred steps follow a returning broker.",
                   "none", [(f"sum by (cause) (increase(kafka_controller_partition_leader_elections_total{{{SEL}}}[$__rate_interval]))", "{{cause}}")],
                   w=6, h=5))
    p.append(panel(l, "stat", "Under-min-ISR partitions",
                   "Partitions whose ISR is smaller than min.insync.replicas, summed over the brokers that lead them "
                   "(`kafka_server_under_min_isr_partitions`): acks=all produce to them fails. "
                   "Above 0 for 5 minutes: runbook KafkaUnderMinIsrPartitions.",
                   "none", [(f"sum(kafka_server_under_min_isr_partitions{{{SEL}}})", "under min ISR")], w=6, h=5))
    p.append(panel(l, "stat", "At-min-ISR partitions",
                   "Partitions whose ISR is exactly min.insync.replicas (`kafka_server_at_min_isr_partitions`): "
                   "one more replica lost stops acks=all produce to them.",
                   "none", [(f"sum(kafka_server_at_min_isr_partitions{{{SEL}}})", "at min ISR")], w=6, h=5))
    p.append(panel(l, "stat", "Under-replicated partitions",
                   "Partitions whose ISR is smaller than their replica set, summed over their leaders "
                   "(`kafka_server_under_replicated_partitions`). Above 0 for 5 minutes: runbook KafkaUnderReplicatedPartitions.",
                   "none", [(f"sum(kafka_server_under_replicated_partitions{{{SEL}}})", "under-replicated")], w=6, h=5))
    p.append(panel(l, "stat", "Offline log directories",
                   "Log directories taken offline after I/O errors, over all nodes (`kafka_log_offline_dirs`). "
                   "Above 0: runbook KafkaOfflineLogDirs.",
                   "none", [(f"sum(kafka_log_offline_dirs{{{SEL}}})", "offline dirs")], w=6, h=5))
    p.append(row(l, "Traffic"))
    p.append(panel(l, "timeseries", "Requests by API",
                   "Requests per second by Kafka API (`kafka_network_requests_total`).",
                   "reqps", [(f"sum by (request) (rate(kafka_network_requests_total{{{SEL}}}[$__rate_interval]))",
                              "{{request}}")]))
    p.append(panel(l, "timeseries", "Request latency p99 by API",
                   "99th percentile of request handling time (`kafka_network_request_duration_seconds`). Fetch includes "
                   "the long-poll wait for data (a consumer's fetch.max.wait.ms; quorum followers long-poll the leader the same "
                   "way), so a high Fetch value on a quiet topic is normal.",
                   "s", [("histogram_quantile(0.99, sum by (le, request) "
                          f"(rate(kafka_network_request_duration_seconds_bucket{{{SEL}}}[$__rate_interval])))",
                          "{{request}}")]))
    p.append(panel(l, "timeseries", "Request errors by API",
                   "Responses carrying an error code per second (`kafka_network_request_errors_total`).",
                   "reqps", [(f"sum by (request, error) (rate(kafka_network_request_errors_total{{{SEL}}}[$__rate_interval]))",
                              "{{request}} {{error}}")]))
    p.append(panel(l, "timeseries", "Bytes in / out",
                   "Record-batch bytes produced to and fetched from the brokers per second, all topics "
                   "(`kafka_server_topic_bytes_in_total`, `kafka_server_topic_bytes_out_total`). Per topic: the Topics dashboard.",
                   "Bps", [(f"sum(rate(kafka_server_topic_bytes_in_total{{{SEL}}}[$__rate_interval]))", "in"),
                           (f"sum(rate(kafka_server_topic_bytes_out_total{{{SEL}}}[$__rate_interval]))", "out")], w=12))
    p.append(panel(l, "timeseries", "Messages in",
                   "Records produced per second, all topics (`kafka_server_topic_messages_in_total`).",
                   "ops", [(f"sum(rate(kafka_server_topic_messages_in_total{{{SEL}}}[$__rate_interval]))", "messages in")],
                   w=12))
    p.append(row(l, "Latency"))
    p.append(panel(l, "timeseries", "Produce latency p50 / p99",
                   "Median and 99th percentile of Produce handling time over all brokers "
                   "(`kafka_network_request_duration_seconds{request=\"Produce\"}`). acks=all requests include the wait "
                   "for the ISR (see \"Purgatory size\"). p99 above 500 ms for 10 minutes under load: runbook KafkaProduceLatencyHigh.",
                   "s", [("histogram_quantile(0.5, sum by (le) (rate(kafka_network_request_duration_seconds_bucket"
                          f"{{request=\"Produce\", {SEL}}}[$__rate_interval])))", "p50"),
                         ("histogram_quantile(0.99, sum by (le) (rate(kafka_network_request_duration_seconds_bucket"
                          f"{{request=\"Produce\", {SEL}}}[$__rate_interval])))", "p99")], w=12))
    p.append(panel(l, "timeseries", "Fetch latency p50 / p99",
                   "Median and 99th percentile of Fetch handling time over all nodes "
                   "(`kafka_network_request_duration_seconds{request=\"Fetch\"}`), consumers and the quorum's own fetches "
                   "alike. A fetch waits up to fetch.max.wait.ms for data (long poll), so values near that wait are "
                   "healthy; no alert uses this panel.",
                   "s", [("histogram_quantile(0.5, sum by (le) (rate(kafka_network_request_duration_seconds_bucket"
                          f"{{request=\"Fetch\", {SEL}}}[$__rate_interval])))", "p50"),
                         ("histogram_quantile(0.99, sum by (le) (rate(kafka_network_request_duration_seconds_bucket"
                          f"{{request=\"Fetch\", {SEL}}}[$__rate_interval])))", "p99")], w=12))
    p.append(row(l, "Replication"))
    active = f"on (instance) (kafka_controller_active_controllers{{{SEL}}} == 1)"
    p.append(panel(l, "timeseries", "Partition states over time",
                   "Partitions short of replicas, summed over the brokers that lead them: under-replicated "
                   "(`kafka_server_under_replicated_partitions`), under min.insync.replicas "
                   "(`kafka_server_under_min_isr_partitions`), exactly at it (`kafka_server_at_min_isr_partitions`), "
                   "and without a leader on the active controller (`kafka_controller_offline_partitions`). "
                   "A stopped follower shows as a step in under-replicated within seconds (it is fenced) or after "
                   "replica.lag.time.max.ms (it stopped fetching); it returns to 0 once the follower caught up. "
                   "Runbooks KafkaUnderReplicatedPartitions, KafkaUnderMinIsrPartitions, KafkaOfflinePartitions.",
                   "none", [(f"sum(kafka_server_under_replicated_partitions{{{SEL}}})", "under-replicated"),
                            (f"sum(kafka_server_under_min_isr_partitions{{{SEL}}})", "under min ISR"),
                            (f"sum(kafka_server_at_min_isr_partitions{{{SEL}}})", "at min ISR"),
                            (f"max(kafka_controller_offline_partitions{{{SEL}}} and {active})", "offline")], w=12))
    p.append(panel(l, "timeseries", "ISR shrinks / expands",
                   "ISR changes the partition leaders committed through AlterPartition, over all brokers: shrinks "
                   "(`kafka_server_isr_shrinks_total`, a follower fell replica.lag.time.max.ms behind), expands "
                   "(`kafka_server_isr_expands_total`, it caught up again) and refused or unanswered proposals "
                   "(`kafka_server_failed_isr_updates_total`). Replicas the controller removes when it fences or shuts "
                   "down a broker are not shrinks here; their return is an expand. Both shrinks and expands, again "
                   "and again: runbook KafkaIsrFlapping; failed updates that persist: KafkaFailedIsrUpdates.",
                   "none", [(f"sum(increase(kafka_server_isr_shrinks_total{{{SEL}}}[$__rate_interval]))", "shrinks"),
                            (f"sum(increase(kafka_server_isr_expands_total{{{SEL}}}[$__rate_interval]))", "expands"),
                            (f"sum(increase(kafka_server_failed_isr_updates_total{{{SEL}}}[$__rate_interval]))", "failed updates")],
                   w=12))
    p.append(panel(l, "timeseries", "Follower lag by source broker (offsets)",
                   "On each follower: the largest lag in offsets (leader high watermark minus the follower's log end) "
                   "over the partitions it fetches from each source broker (`kafka_replica_fetcher_max_lag`).",
                   "none", [(f"max by (instance, source_broker) (kafka_replica_fetcher_max_lag{{{SEL}}})",
                             "{{instance}} from broker {{source_broker}}")]))
    p.append(panel(l, "timeseries", "Follower lag by source broker (seconds)",
                   "On each follower: the longest time any partition fetched from each source broker has been behind "
                   "the leader's high watermark (`kafka_replica_fetcher_max_lag_seconds`); 0 while caught up. "
                   "Above 30 s for 5 minutes: runbook KafkaFollowerLagHigh.",
                   "s", [(f"max by (instance, source_broker) (kafka_replica_fetcher_max_lag_seconds{{{SEL}}})",
                          "{{instance}} from broker {{source_broker}}")]))
    p.append(panel(l, "timeseries", "acks=all replication wait p50 / p99",
                   "Median and 99th percentile of the time an acks=all Produce waited, after its local append, for "
                   "the ISR to replicate it (`kafka_server_produce_replication_wait_seconds`), over all leaders. "
                   "p99 above 500 ms for 10 minutes under load: runbook KafkaProduceReplicationSlow.",
                   "s", [("histogram_quantile(0.5, sum by (le) (rate(kafka_server_produce_replication_wait_seconds_bucket"
                          f"{{{SEL}}}[$__rate_interval])))", "p50"),
                         ("histogram_quantile(0.99, sum by (le) (rate(kafka_server_produce_replication_wait_seconds_bucket"
                          f"{{{SEL}}}[$__rate_interval])))", "p99")]))
    p.append(panel(l, "timeseries", "Produce requests waiting for replicas",
                   "acks=all Produce requests parked on each broker until the ISR has their records "
                   "(`kafka_server_purgatory_size{operation=\"Produce\"}`). A count that does not drain: the ISR "
                   "is short (runbook KafkaUnderMinIsrPartitions) or a follower is slow (KafkaProduceReplicationSlow).",
                   "none", [(f"sum by (instance) (kafka_server_purgatory_size{{operation=\"Produce\", {SEL}}})", "{{instance}}")]))
    p.append(panel(l, "timeseries", "Replica fetcher requests and failures",
                   "Replica fetches per second, all followers together (`kafka_replica_fetcher_requests_total`), and "
                   "the ones that failed (`kafka_replica_fetcher_failed_requests_total`), by source broker: failures "
                   "towards one source mean that leader is unreachable or refusing.",
                   "reqps", [(f"sum by (source_broker) (rate(kafka_replica_fetcher_requests_total{{{SEL}}}[$__rate_interval]))",
                              "requests to broker {{source_broker}}"),
                             (f"sum by (source_broker) (rate(kafka_replica_fetcher_failed_requests_total{{{SEL}}}[$__rate_interval]))",
                              "failed to broker {{source_broker}}")]))
    p.append(panel(l, "timeseries", "Replicated bytes",
                   "Record bytes the followers appended per second, by source broker (`kafka_replica_fetcher_bytes_total`); "
                   "roughly the leaders' bytes in times (replication factor - 1).",
                   "Bps", [(f"sum by (source_broker) (rate(kafka_replica_fetcher_bytes_total{{{SEL}}}[$__rate_interval]))",
                            "from broker {{source_broker}}")]))
    p.append(panel(l, "timeseries", "Preferred replica imbalance",
                   "Partitions whose leader is not their preferred (first) replica, on the active controller "
                   "(`kafka_controller_preferred_replica_imbalance`). It rises when a leader's broker stops and stays "
                   "up after it returns, until a preferred leader election moves leadership back "
                   "(runbooks/procedure-partition-leader-failover.md).",
                   "none", [(f"max(kafka_controller_preferred_replica_imbalance{{{SEL}}} and {active})", "not on preferred leader")]))
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
    p.append(panel(l, "timeseries", "Purgatory size",
                   "Requests parked on the brokers, by operation (`kafka_server_purgatory_size`): Produce with acks=all "
                   "waiting for the ISR, Fetch waiting for fetch.min.bytes. Fetch waits are normal on quiet topics; "
                   "Produce waits that do not drain point at a shrunken ISR (runbook KafkaUnderMinIsrPartitions).",
                   "none", [(f"sum by (operation) (kafka_server_purgatory_size{{{SEL}}})", "{{operation}}")]))
    p.append(panel(l, "timeseries", "Log directory free space",
                   "Lowest free share of any log directory on each node (`kafka_log_dir_free_bytes` / "
                   "`kafka_log_dir_total_bytes`). Below 10%: runbook KafkaLogDirAlmostFull.",
                   "percentunit", [(f"min by (instance) (kafka_log_dir_free_bytes{{{SEL}}} / kafka_log_dir_total_bytes{{{SEL}}})",
                                    "{{instance}}")]))
    p.append(panel(l, "timeseries", "File descriptors used",
                   "Open file descriptors as a share of the limit on each node (`process_open_fds` / `process_max_fds`). "
                   "Above 80%: runbook KafkaFileDescriptorsNearLimit.",
                   "percentunit", [(f"process_open_fds{{{SEL}}} / process_max_fds{{{SEL}}}", "{{instance}}")]))
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
    p.append(row(l, "Partitions"))
    p.append(panel(l, "timeseries", "Partitions and leaders",
                   "Partitions with a replica on each broker and the partitions it leads "
                   "(`kafka_server_partitions`, `kafka_server_leader_partitions`); brokers should be roughly level.",
                   "none", [(f"kafka_server_partitions{{{SEL}}}", "partitions {{instance}}"),
                            (f"kafka_server_leader_partitions{{{SEL}}}", "leaders {{instance}}")]))
    p.append(panel(l, "timeseries", "ISR health of led partitions",
                   "Partitions each broker leads that are under-replicated (`kafka_server_under_replicated_partitions`), "
                   "under min.insync.replicas (`kafka_server_under_min_isr_partitions`) or exactly at it "
                   "(`kafka_server_at_min_isr_partitions`). Runbooks KafkaUnderReplicatedPartitions and KafkaUnderMinIsrPartitions.",
                   "none", [(f"kafka_server_under_replicated_partitions{{{SEL}}}", "under-replicated {{instance}}"),
                            (f"kafka_server_under_min_isr_partitions{{{SEL}}}", "under min ISR {{instance}}"),
                            (f"kafka_server_at_min_isr_partitions{{{SEL}}}", "at min ISR {{instance}}")]))
    p.append(panel(l, "timeseries", "Offline log directories",
                   "Log directories each node took offline after I/O errors (`kafka_log_offline_dirs`). "
                   "Above 0: runbook KafkaOfflineLogDirs.",
                   "none", [(f"max by (instance) (kafka_log_offline_dirs{{{SEL}}})", "{{instance}}")]))
    p.append(row(l, "Storage"))
    p.append(panel(l, "timeseries", "Log directory free space",
                   "Free share of each log directory's file system (`kafka_log_dir_free_bytes` / `kafka_log_dir_total_bytes`). "
                   "Below 10%: runbook KafkaLogDirAlmostFull.",
                   "percentunit", [(f"kafka_log_dir_free_bytes{{{SEL}}} / kafka_log_dir_total_bytes{{{SEL}}}", "{{instance}} {{dir}}")]))
    p.append(panel(l, "timeseries", "Log directory free and total bytes",
                   "Free and total bytes of each log directory's file system (`kafka_log_dir_free_bytes`, "
                   "`kafka_log_dir_total_bytes`). Falling towards 0 within a day: runbook KafkaLogDirFillingUp.",
                   "bytes", [(f"kafka_log_dir_free_bytes{{{SEL}}}", "free {{instance}} {{dir}}"),
                             (f"kafka_log_dir_total_bytes{{{SEL}}}", "total {{instance}} {{dir}}")]))
    p.append(panel(l, "timeseries", "Log flush latency p99",
                   "99th percentile of log fsync time (`kafka_log_flush_duration_seconds`); slow flushes slow "
                   "produce (runbook KafkaProduceLatencyHigh).",
                   "s", [("histogram_quantile(0.99, sum by (le, instance) "
                          f"(rate(kafka_log_flush_duration_seconds_bucket{{{SEL}}}[$__rate_interval])))", "{{instance}}")]))
    p.append(panel(l, "timeseries", "Log size by topic",
                   "Bytes of log segments per topic on each node (`kafka_log_size_bytes`), the metadata log "
                   "(`__cluster_metadata`) included.",
                   "bytes", [(f"sum by (instance, topic) (kafka_log_size_bytes{{{SEL}}})", "{{instance}} {{topic}}")]))
    p.append(panel(l, "timeseries", "Log segments by topic",
                   "Segment files per topic on each node (`kafka_log_segments`); each holds file descriptors "
                   "(runbook KafkaFileDescriptorsNearLimit).",
                   "none", [(f"sum by (instance, topic) (kafka_log_segments{{{SEL}}})", "{{instance}} {{topic}}")]))
    p.append(row(l, "Traffic"))
    p.append(panel(l, "timeseries", "Bytes in / out",
                   "Record-batch bytes produced to and fetched from each broker per second "
                   "(`kafka_server_topic_bytes_in_total`, `kafka_server_topic_bytes_out_total`).",
                   "Bps", [(f"sum by (instance) (rate(kafka_server_topic_bytes_in_total{{{SEL}}}[$__rate_interval]))", "in {{instance}}"),
                           (f"sum by (instance) (rate(kafka_server_topic_bytes_out_total{{{SEL}}}[$__rate_interval]))", "out {{instance}}")]))
    p.append(panel(l, "timeseries", "Messages in",
                   "Records produced to each broker per second (`kafka_server_topic_messages_in_total`).",
                   "ops", [(f"sum by (instance) (rate(kafka_server_topic_messages_in_total{{{SEL}}}[$__rate_interval]))", "{{instance}}")]))
    p.append(panel(l, "timeseries", "Purgatory size",
                   "Requests parked on each broker (`kafka_server_purgatory_size`): Produce with acks=all waiting for "
                   "the ISR, Fetch waiting for fetch.min.bytes (normal on quiet topics).",
                   "none", [(f"sum by (instance, operation) (kafka_server_purgatory_size{{{SEL}}})", "{{instance}} {{operation}}")]))
    p.append(panel(l, "timeseries", "Fetch sessions",
                   "Incremental fetch sessions (KIP-227) each broker holds for consumers and followers "
                   "(`kafka_server_fetch_session_cache_sessions`, at most max.incremental.fetch.session.cache.slots) "
                   "and the partitions they cache (`kafka_server_fetch_session_cache_partitions`).",
                   "none", [(f"kafka_server_fetch_session_cache_sessions{{{SEL}}}", "sessions {{instance}}"),
                            (f"kafka_server_fetch_session_cache_partitions{{{SEL}}}", "partitions {{instance}}")]))
    p.append(panel(l, "timeseries", "Fetch session evictions",
                   "Fetch sessions evicted per second to make room for new ones "
                   "(`kafka_server_fetch_session_evictions_total`); steady evictions mean the cache is too small "
                   "and fetchers fall back to full fetches.",
                   "ops", [(f"sum by (instance) (rate(kafka_server_fetch_session_evictions_total{{{SEL}}}[$__rate_interval]))", "{{instance}}")]))
    p.append(row(l, "Replication"))
    p.append(panel(l, "timeseries", "ISR changes by broker",
                   "ISR shrinks (`kafka_server_isr_shrinks_total`), expands (`kafka_server_isr_expands_total`) and "
                   "failed ISR updates (`kafka_server_failed_isr_updates_total`) of the partitions each broker leads. "
                   "Runbooks KafkaIsrFlapping and KafkaFailedIsrUpdates.",
                   "none", [(f"sum by (instance) (increase(kafka_server_isr_shrinks_total{{{SEL}}}[$__rate_interval]))", "shrinks {{instance}}"),
                            (f"sum by (instance) (increase(kafka_server_isr_expands_total{{{SEL}}}[$__rate_interval]))", "expands {{instance}}"),
                            (f"sum by (instance) (increase(kafka_server_failed_isr_updates_total{{{SEL}}}[$__rate_interval]))", "failed {{instance}}")]))
    p.append(panel(l, "timeseries", "Follower lag (offsets and seconds)",
                   "Largest lag of the partitions each follower fetches from each source broker, in offsets "
                   "(`kafka_replica_fetcher_max_lag`) and in seconds behind the leader's high watermark "
                   "(`kafka_replica_fetcher_max_lag_seconds`). Seconds above 30 for 5 minutes: runbook KafkaFollowerLagHigh.",
                   "none", [(f"max by (instance, source_broker) (kafka_replica_fetcher_max_lag{{{SEL}}})", "{{instance}} from {{source_broker}} offsets"),
                            (f"max by (instance, source_broker) (kafka_replica_fetcher_max_lag_seconds{{{SEL}}})", "{{instance}} from {{source_broker}} seconds")]))
    p.append(panel(l, "timeseries", "Replica fetchers and failed partitions",
                   "Replica fetcher connections each broker runs (`kafka_replica_fetchers`, one per source broker and "
                   "fetcher index) and partitions whose replication stopped on an error that needs an operator "
                   "(`kafka_replica_fetcher_failed_partitions`). Failed partitions above 0: runbook KafkaReplicaFetcherFailedPartitions.",
                   "none", [(f"max by (instance) (kafka_replica_fetchers{{{SEL}}})", "fetchers {{instance}}"),
                            (f"max by (instance) (kafka_replica_fetcher_failed_partitions{{{SEL}}})", "failed partitions {{instance}}")]))
    p.append(panel(l, "timeseries", "Replica fetch rate and failures",
                   "Replica fetches each follower sends per second by source broker (`kafka_replica_fetcher_requests_total`) "
                   "and the failed ones (`kafka_replica_fetcher_failed_requests_total`: connection, timeout or a "
                   "request-level error).",
                   "reqps", [(f"sum by (instance, source_broker) (rate(kafka_replica_fetcher_requests_total{{{SEL}}}[$__rate_interval]))",
                              "{{instance}} from {{source_broker}}"),
                             (f"sum by (instance, source_broker) (rate(kafka_replica_fetcher_failed_requests_total{{{SEL}}}[$__rate_interval]))",
                              "{{instance}} from {{source_broker}} failed")]))
    p.append(panel(l, "timeseries", "Replicated bytes by follower",
                   "Record bytes each follower appended per second, by source broker (`kafka_replica_fetcher_bytes_total`).",
                   "Bps", [(f"sum by (instance, source_broker) (rate(kafka_replica_fetcher_bytes_total{{{SEL}}}[$__rate_interval]))",
                            "{{instance}} from {{source_broker}}")]))
    p.append(panel(l, "timeseries", "Follower truncations",
                   "Times each follower truncated its log where it diverged from a new leader's "
                   "(`kafka_replica_follower_truncations_total`): expected once per partition after a leader change "
                   "that left uncommitted records behind, never in a steady state.",
                   "none", [(f"sum by (instance) (increase(kafka_replica_follower_truncations_total{{{SEL}}}[$__rate_interval]))", "{{instance}}")]))
    p.append(panel(l, "timeseries", "acks=all replication wait p99",
                   "99th percentile of the time acks=all Produce requests waited on each leader, after the local "
                   "append, for the ISR (`kafka_server_produce_replication_wait_seconds`). Runbook KafkaProduceReplicationSlow.",
                   "s", [("histogram_quantile(0.99, sum by (le, instance) (rate(kafka_server_produce_replication_wait_seconds_bucket"
                          f"{{{SEL}}}[$__rate_interval])))", "p99 {{instance}}")]))
    p.append(panel(l, "timeseries", "High-watermark checkpoint age",
                   "Seconds since each broker last wrote the high watermarks of its partitions to every log "
                   "directory's replication-offset-checkpoint (`kafka_replica_high_watermark_checkpoint_age_seconds`); "
                   "a sawtooth under replica.high.watermark.checkpoint.interval.ms (5 s) plus the 1 s timer is healthy.",
                   "s", [(f"max by (instance) (kafka_replica_high_watermark_checkpoint_age_seconds{{{SEL}}})", "{{instance}}")]))
    p.append(row(l, "Network"))
    p.append(panel(l, "timeseries", "Requests by API",
                   "Requests per second by node and API (`kafka_network_requests_total`).",
                   "reqps", [(f"sum by (instance, request) (rate(kafka_network_requests_total{{{SEL}}}[$__rate_interval]))",
                              "{{instance}} {{request}}")]))
    p.append(panel(l, "timeseries", "Request latency p50 / p99",
                   "Median and 99th percentile of request handling time over every API "
                   "(`kafka_network_request_duration_seconds`); long-poll Fetch waits raise it. Per API: the next two panels.",
                   "s", [("histogram_quantile(0.5, sum by (le, instance) "
                          f"(rate(kafka_network_request_duration_seconds_bucket{{{SEL}}}[$__rate_interval])))",
                          "p50 {{instance}}"),
                         ("histogram_quantile(0.99, sum by (le, instance) "
                          f"(rate(kafka_network_request_duration_seconds_bucket{{{SEL}}}[$__rate_interval])))",
                          "p99 {{instance}}")]))
    p.append(panel(l, "timeseries", "Request errors by API",
                   "Responses carrying an error code per second, by node, API and Kafka error name "
                   "(`kafka_network_request_errors_total`).",
                   "reqps", [(f"sum by (instance, request, error) (rate(kafka_network_request_errors_total{{{SEL}}}[$__rate_interval]))",
                              "{{instance}} {{request}} {{error}}")]))
    p.append(panel(l, "timeseries", "Produce latency p50 / p99",
                   "Median and 99th percentile of Produce handling time per broker "
                   "(`kafka_network_request_duration_seconds{request=\"Produce\"}`), acks=all waits for the ISR included. "
                   "p99 above 500 ms for 10 minutes under load: runbook KafkaProduceLatencyHigh.",
                   "s", [("histogram_quantile(0.5, sum by (le, instance) (rate(kafka_network_request_duration_seconds_bucket"
                          f"{{request=\"Produce\", {SEL}}}[$__rate_interval])))", "p50 {{instance}}"),
                         ("histogram_quantile(0.99, sum by (le, instance) (rate(kafka_network_request_duration_seconds_bucket"
                          f"{{request=\"Produce\", {SEL}}}[$__rate_interval])))", "p99 {{instance}}")]))
    p.append(panel(l, "timeseries", "Fetch latency p50 / p99",
                   "Median and 99th percentile of Fetch handling time per node "
                   "(`kafka_network_request_duration_seconds{request=\"Fetch\"}`). Includes the long-poll wait "
                   "(fetch.max.wait.ms), so values near it are healthy; no alert uses it.",
                   "s", [("histogram_quantile(0.5, sum by (le, instance) (rate(kafka_network_request_duration_seconds_bucket"
                          f"{{request=\"Fetch\", {SEL}}}[$__rate_interval])))", "p50 {{instance}}"),
                         ("histogram_quantile(0.99, sum by (le, instance) (rate(kafka_network_request_duration_seconds_bucket"
                          f"{{request=\"Fetch\", {SEL}}}[$__rate_interval])))", "p99 {{instance}}")]))
    p.append(panel(l, "timeseries", "Connections by listener",
                   "Open client connections per listener (`kafka_network_connections`).",
                   "none", [(f"sum by (instance, listener) (kafka_network_connections{{{SEL}}})",
                              "{{instance}} {{listener}}")]))
    p.append(panel(l, "timeseries", "Connections closed for bad requests",
                   "Connections closed after malformed, oversized or unsupported requests per second "
                   "(`kafka_network_malformed_requests_total`).",
                   "reqps", [(f"sum by (instance, listener, reason) (rate(kafka_network_malformed_requests_total{{{SEL}}}[$__rate_interval]))",
                              "{{instance}} {{listener}} {{reason}}")]))
    p.append(panel(l, "timeseries", "Connections refused or idled out",
                   "Connections closed on arrival because their address holds max.connections.per.ip "
                   "(`kafka_network_connections_rejected_total`), and connections closed after "
                   "connections.max.idle.ms without a request (`kafka_network_idle_connections_closed_total`), "
                   "per second.",
                   "cps", [(f"sum by (instance, listener, reason) (rate(kafka_network_connections_rejected_total{{{SEL}}}[$__rate_interval]))",
                            "{{instance}} {{listener}} refused: {{reason}}"),
                           (f"sum by (instance, listener) (rate(kafka_network_idle_connections_closed_total{{{SEL}}}[$__rate_interval]))",
                            "{{instance}} {{listener}} idle")]))
    return dashboard("kraftd-broker", "kraftd / Broker",
                     "Per-instance drill-down: process resources, partitions, storage, traffic and request handling.", p, LINKS)


def topics():
    l = Layout()
    tsel = f'topic=~"$topic", {SEL}'
    active = f"on (instance) (kafka_controller_active_controllers{{{SEL}}} == 1)"
    topic_var = query_var("topic", "Topic", 'label_values(kafka_log_size_bytes{instance=~"$instance"}, topic)')
    p = [row(l, "Traffic by topic")]
    p.append(panel(l, "timeseries", "Bytes in by topic",
                   "Record-batch bytes produced per second, by topic, summed over the brokers "
                   "(`kafka_server_topic_bytes_in_total`).",
                   "Bps", [(f"sum by (topic) (rate(kafka_server_topic_bytes_in_total{{{tsel}}}[$__rate_interval]))", "{{topic}}")]))
    p.append(panel(l, "timeseries", "Bytes out by topic",
                   "Record-batch bytes fetched per second, by topic, summed over the brokers "
                   "(`kafka_server_topic_bytes_out_total`); every consumer of a topic adds to it.",
                   "Bps", [(f"sum by (topic) (rate(kafka_server_topic_bytes_out_total{{{tsel}}}[$__rate_interval]))", "{{topic}}")]))
    p.append(panel(l, "timeseries", "Messages in by topic",
                   "Records produced per second, by topic (`kafka_server_topic_messages_in_total`).",
                   "ops", [(f"sum by (topic) (rate(kafka_server_topic_messages_in_total{{{tsel}}}[$__rate_interval]))", "{{topic}}")]))
    p.append(panel(l, "bargauge", "Top topics by bytes in",
                   "The ten topics with the most produced bytes per second now (`kafka_server_topic_bytes_in_total`).",
                   "Bps", [(f"topk(10, sum by (topic) (rate(kafka_server_topic_bytes_in_total{{{tsel}}}[$__rate_interval])))", "{{topic}}")],
                   w=12, extra={"options": {"orientation": "horizontal", "displayMode": "basic",
                                            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}}))
    p.append(panel(l, "bargauge", "Top topics by bytes out",
                   "The ten topics with the most fetched bytes per second now (`kafka_server_topic_bytes_out_total`).",
                   "Bps", [(f"topk(10, sum by (topic) (rate(kafka_server_topic_bytes_out_total{{{tsel}}}[$__rate_interval])))", "{{topic}}")],
                   w=12, extra={"options": {"orientation": "horizontal", "displayMode": "basic",
                                            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}}))
    p.append(row(l, "Size"))
    p.append(panel(l, "timeseries", "Log size by topic",
                   "Bytes of log segments per topic, summed over every node holding a replica (`kafka_log_size_bytes`), "
                   "so a topic with replication factor 3 counts three times. `__cluster_metadata` is the metadata log. "
                   "Disk running out: runbooks KafkaLogDirAlmostFull and KafkaLogDirFillingUp.",
                   "bytes", [(f"sum by (topic) (kafka_log_size_bytes{{{tsel}}})", "{{topic}}")]))
    p.append(panel(l, "bargauge", "Largest topics",
                   "The ten topics using the most disk now, all replicas together (`kafka_log_size_bytes`).",
                   "bytes", [(f"topk(10, sum by (topic) (kafka_log_size_bytes{{{tsel}}}))", "{{topic}}")],
                   extra={"options": {"orientation": "horizontal", "displayMode": "basic",
                                      "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}}))
    p.append(panel(l, "timeseries", "Log segments by topic",
                   "Segment files per topic over all nodes (`kafka_log_segments`); a steadily growing count means "
                   "retention is not deleting segments.",
                   "none", [(f"sum by (topic) (kafka_log_segments{{{tsel}}})", "{{topic}}")]))
    p.append(row(l, "Partitions"))
    p.append(panel(l, "stat", "Topics / partitions",
                   "Topics and partitions in the cluster on the active controller "
                   "(`kafka_controller_topics`, `kafka_controller_partitions`). Per-topic partition counts: "
                   "`kraftd topics --describe`.",
                   "none", [(f"max(kafka_controller_topics{{{SEL}}} and {active})", "topics"),
                            (f"max(kafka_controller_partitions{{{SEL}}} and {active})", "partitions")], w=6, h=6))
    p.append(panel(l, "stat", "Offline partitions",
                   "Partitions without a leader on the active controller (`kafka_controller_offline_partitions`). "
                   "Above 0: runbook KafkaOfflinePartitions.",
                   "none", [(f"max(kafka_controller_offline_partitions{{{SEL}}} and {active})", "offline")], w=6, h=6))
    p.append(panel(l, "stat", "Under-replicated and under-min-ISR partitions",
                   "Partitions whose ISR is smaller than their replica set (`kafka_server_under_replicated_partitions`), "
                   "smaller than min.insync.replicas (`kafka_server_under_min_isr_partitions`) or exactly at it "
                   "(`kafka_server_at_min_isr_partitions`), summed over their leaders. These gauges have no topic "
                   "label: `kraftd topics --describe --under-replicated-partitions` names the partitions. Runbooks "
                   "KafkaUnderReplicatedPartitions and KafkaUnderMinIsrPartitions.",
                   "none", [(f"sum(kafka_server_under_replicated_partitions{{{SEL}}})", "under-replicated"),
                            (f"sum(kafka_server_under_min_isr_partitions{{{SEL}}})", "under min ISR"),
                            (f"sum(kafka_server_at_min_isr_partitions{{{SEL}}})", "at min ISR")], w=12, h=6))
    p.append(panel(l, "timeseries", "Partitions and leaders by broker",
                   "Partition replicas and partition leaders on each broker (`kafka_server_partitions`, "
                   "`kafka_server_leader_partitions`); a broker leading far more than the others carries more traffic.",
                   "none", [(f"kafka_server_partitions{{{SEL}}}", "replicas {{instance}}"),
                            (f"kafka_server_leader_partitions{{{SEL}}}", "leaders {{instance}}")], w=12))
    p.append(panel(l, "timeseries", "Under-replicated partitions by broker",
                   "Partitions each broker leads whose ISR is short (`kafka_server_under_replicated_partitions`) or "
                   "under min.insync.replicas (`kafka_server_under_min_isr_partitions`): which leader to look at.",
                   "none", [(f"kafka_server_under_replicated_partitions{{{SEL}}}", "under-replicated {{instance}}"),
                            (f"kafka_server_under_min_isr_partitions{{{SEL}}}", "under min ISR {{instance}}")], w=12))
    p.append(panel(l, "timeseries", "Follower lag by partition (opt-in)",
                   "Offsets each follower replica is behind its leader's high watermark, per partition "
                   "(`kafka_replica_partition_lag`); exported only by brokers with "
                   "`kraftd.replica.lag.per.partition.metrics=true`. The per-broker maximum is on the broker dashboard. "
                   "Runbook KafkaFollowerLagHigh.",
                   "none", [(f"max by (topic, partition) (kafka_replica_partition_lag{{{tsel}}})", "{{topic}}-{{partition}}")],
                   w=24))
    return dashboard("kraftd-topics", "kraftd / Topics",
                     "Per-topic traffic and size, and the partition state of the cluster's topics.", p, LINKS,
                     extra_variables=(topic_var,))


def quorum():
    l = Layout()
    voter = f'kind="voter", {SEL}'
    observer = f'kind="observer", {SEL}'
    p = [row(l, "Quorum health")]
    p.append(panel(l, "stat", "Active controller",
                   "Node id of the quorum leader (`kafka_raft_leader_id` where `kafka_raft_state{state=\"leader\"}` is 1). "
                   "Empty: no leader, see runbook KRaftQuorumLost.",
                   "none", [(f'max(kafka_raft_leader_id{{{SEL}}} and on (instance) kafka_raft_state{{state="leader", {SEL}}} == 1)', "leader")],
                   w=4, h=5))
    p.append(panel(l, "stat", "Epoch",
                   "Current quorum epoch (`kafka_raft_epoch`); it increases by one per election.",
                   "none", [(f"max(kafka_raft_epoch{{{SEL}}})", "epoch")], w=4, h=5))
    p.append(panel(l, "stat", "Voters up / total",
                   "Running voters (`kafka_raft_is_voter`) against the voter set size (`kafka_raft_voters`). "
                   "A majority is needed to commit; see KRaftQuorumAtRisk and KRaftQuorumLost.",
                   "none", [(f"count(kafka_raft_is_voter{{{SEL}}} == 1)", "up"),
                            (f"max(kafka_raft_voters{{{SEL}}})", "total")], w=4, h=5))
    p.append(panel(l, "stat", "Voters caught up / total",
                   "Voters whose last catch-up with the leader is under 5 s "
                   "(`kafka_raft_follower_last_caught_up_age_seconds{kind=\"voter\"}`, plus the leader itself), against `kafka_raft_voters`.",
                   "none", [(f"(count(kafka_raft_follower_last_caught_up_age_seconds{{{voter}}} < 5) or vector(0)) "
                             f"+ count(kafka_raft_state{{state=\"leader\", {SEL}}} == 1)", "caught up"),
                            (f"max(kafka_raft_voters{{{SEL}}})", "total")], w=4, h=5))
    p.append(panel(l, "stat", "Max follower lag",
                   "On the leader: the largest voter lag in offsets and in seconds "
                   "(`kafka_raft_max_follower_lag`, `kafka_raft_max_follower_lag_seconds`).",
                   "none", [(f"max(kafka_raft_max_follower_lag{{{SEL}}})", "offsets"),
                            (f"max(kafka_raft_max_follower_lag_seconds{{{SEL}}})", "seconds")], w=8, h=5))
    p.append(row(l, "Leadership"))
    p.append(panel(l, "state-timeline", "Raft state by node",
                   "Each node's KRaft state over time (`kafka_raft_state`): leader, follower, candidate, prospective, "
                   "voted, unattached, resigned, observer.",
                   "none", [(f"max by (instance, state) (kafka_raft_state{{{SEL}}}) == 1", "{{instance}} {{state}}")],
                   w=24, h=7))
    p.append(panel(l, "timeseries", "Leader and epoch",
                   "Quorum leader id and epoch as each node sees them (`kafka_raft_leader_id`, `kafka_raft_epoch`).",
                   "none", [(f"max by (instance) (kafka_raft_leader_id{{{SEL}}})", "leader seen by {{instance}}"),
                            (f"max(kafka_raft_epoch{{{SEL}}})", "epoch")]))
    p.append(panel(l, "timeseries", "Elections",
                   "Elections started per node (`kafka_raft_elections_total`); several in a row: runbook KRaftFrequentElections.",
                   "none", [(f"sum by (instance) (increase(kafka_raft_elections_total{{{SEL}}}[$__rate_interval]))", "{{instance}}")]))
    p.append(panel(l, "timeseries", "Fetch timeouts and check-quorum resignations",
                   "Followers that lost the leader (`kafka_raft_fetch_timeouts_total`) and leaders that lost the majority "
                   "(`kafka_raft_check_quorum_resignations_total`).",
                   "none", [(f"sum by (instance) (increase(kafka_raft_fetch_timeouts_total{{{SEL}}}[$__rate_interval]))", "fetch timeouts {{instance}}"),
                            (f"sum by (instance) (increase(kafka_raft_check_quorum_resignations_total{{{SEL}}}[$__rate_interval]))", "resignations {{instance}}")]))
    p.append(row(l, "Commits"))
    p.append(panel(l, "heatmap", "Commit latency (heatmap)",
                   "Distribution of append-to-commit time on the leader (`kafka_raft_commit_latency_seconds`).",
                   "s", [(f"sum by (le) (rate(kafka_raft_commit_latency_seconds_bucket{{{SEL}}}[$__rate_interval]))", "{{le}}")],
                   extra={"options": {"calculate": False, "yAxis": {"unit": "s"}}}))
    p.append(panel(l, "timeseries", "Commit latency p99",
                   "99th percentile of append-to-commit time (`kafka_raft_commit_latency_seconds`); above 500 ms: KRaftCommitLatencyHigh.",
                   "s", [("histogram_quantile(0.99, sum by (le) "
                          f"(rate(kafka_raft_commit_latency_seconds_bucket{{{SEL}}}[$__rate_interval])))", "p99")]))
    p.append(panel(l, "timeseries", "High watermark vs log end offset",
                   "Committed (`kafka_raft_high_watermark`) and written (`kafka_raft_log_end_offset`) offsets of the metadata log per node.",
                   "none", [(f"kafka_raft_high_watermark{{{SEL}}}", "HW {{instance}}"),
                            (f"kafka_raft_log_end_offset{{{SEL}}}", "LEO {{instance}}")]))
    p.append(panel(l, "timeseries", "Records appended and fetched",
                   "Metadata records appended by the leader and fetched by followers and observers per second "
                   "(`kafka_raft_append_records_total`, `kafka_raft_fetch_records_total`).",
                   "ops", [(f"sum by (instance) (rate(kafka_raft_append_records_total{{{SEL}}}[$__rate_interval]))", "appended {{instance}}"),
                           (f"sum by (instance) (rate(kafka_raft_fetch_records_total{{{SEL}}}[$__rate_interval]))", "fetched {{instance}}")]))
    p.append(row(l, "Replication to voters and observers"))
    p.append(panel(l, "timeseries", "Per-voter lag (offsets)",
                   "On the leader: offsets each voter is behind (`kafka_raft_follower_lag{kind=\"voter\"}`).",
                   "none", [(f"max by (replica_id) (kafka_raft_follower_lag{{{voter}}})", "voter {{replica_id}}")]))
    p.append(panel(l, "timeseries", "Per-voter lag (time)",
                   "On the leader: seconds since each voter last caught up "
                   "(`kafka_raft_follower_last_caught_up_age_seconds{kind=\"voter\"}`); above 30 s: KRaftVoterLagging.",
                   "s", [(f"max by (replica_id) (kafka_raft_follower_last_caught_up_age_seconds{{{voter}}})", "voter {{replica_id}}")]))
    p.append(panel(l, "timeseries", "Per-observer lag",
                   "On the leader: how far each observer (broker) is behind, in offsets and seconds "
                   "(`kafka_raft_follower_lag{kind=\"observer\"}`, `kafka_raft_follower_last_caught_up_age_seconds{kind=\"observer\"}`).",
                   "none", [(f"max by (replica_id) (kafka_raft_follower_lag{{{observer}}})", "observer {{replica_id}} offsets"),
                            (f"max by (replica_id) (kafka_raft_follower_last_caught_up_age_seconds{{{observer}}})", "observer {{replica_id}} seconds")]))
    p.append(panel(l, "timeseries", "Requests queued for peers / dropped",
                   "KRaft requests waiting in each node's bounded per-peer queues (`kafka_raft_peer_queue_depth`) and "
                   "requests dropped because a queue was full (`kafka_raft_peer_requests_dropped_total`, per second): "
                   "a peer that is unreachable or far behind. Raft resends what it needs; drops that persist point at "
                   "the peer shown by the per-voter lag panels.",
                   "none", [(f"max by (instance) (kafka_raft_peer_queue_depth{{{SEL}}})", "queued {{instance}}"),
                            (f"sum by (instance) (rate(kafka_raft_peer_requests_dropped_total{{{SEL}}}[$__rate_interval]))", "dropped/s {{instance}}")]))
    active = f"on (instance) (kafka_controller_active_controllers{{{SEL}}} == 1)"
    p.append(row(l, "Active controller"))
    p.append(panel(l, "timeseries", "Active controllers",
                   "Nodes reporting themselves the active controller (`kafka_controller_active_controllers`), "
                   "summed: exactly 1 is healthy. 0 for a minute: runbook KRaftNoActiveController; "
                   "above 1: KRaftMultipleActiveControllers.",
                   "none", [(f"sum(kafka_controller_active_controllers{{{SEL}}})", "active controllers"),
                            (f"max by (instance) (kafka_controller_active_controllers{{{SEL}}}) == 1", "active: {{instance}}")]))
    p.append(panel(l, "timeseries", "New active controllers",
                   "Times each controller saw a new active controller (`kafka_controller_new_active_controllers_total`); "
                   "one step per failover.",
                   "none", [(f"sum by (instance) (increase(kafka_controller_new_active_controllers_total{{{SEL}}}[$__rate_interval]))", "{{instance}}")]))
    p.append(panel(l, "timeseries", "Brokers by state",
                   "Registered brokers as the active controller sees them: active, fenced, controlled_shutdown "
                   "(`kafka_controller_brokers`). Fenced for 5 minutes: runbook KRaftFencedBrokers.",
                   "none", [(f"max by (state) (kafka_controller_brokers{{{SEL}}} and {active})", "{{state}}")]))
    p.append(panel(l, "timeseries", "Heartbeat timeouts",
                   "Brokers fenced because their session timed out (`kafka_controller_broker_heartbeat_timeouts_total`) "
                   "or because their heartbeat connection closed and no heartbeat followed within "
                   "kraftd.broker.disconnect.fence.ms (`kafka_controller_broker_disconnect_fences_total`: a crashed or "
                   "killed process); a controlled shutdown does not count. Runbook KRaftBrokerHeartbeatTimeouts.",
                   "none", [(f"sum by (instance) (increase(kafka_controller_broker_heartbeat_timeouts_total{{{SEL}}}[$__rate_interval]))", "session timeout {{instance}}"),
                            (f"sum by (instance) (increase(kafka_controller_broker_disconnect_fences_total{{{SEL}}}[$__rate_interval]))", "disconnect {{instance}}")]))
    p.append(panel(l, "heatmap", "Controller event queue wait (heatmap)",
                   "Time controller requests wait in the event queue (`kafka_controller_event_queue_wait_seconds`).",
                   "s", [(f"sum by (le) (rate(kafka_controller_event_queue_wait_seconds_bucket{{{SEL}}}[$__rate_interval]))", "{{le}}")],
                   extra={"options": {"calculate": False, "yAxis": {"unit": "s"}}}))
    p.append(panel(l, "timeseries", "Controller event queue wait and processing p99",
                   "99th percentile of queue wait (`kafka_controller_event_queue_wait_seconds`) and of processing time "
                   "(`kafka_controller_event_processing_seconds`) per controller. Wait above 1 s: runbook KRaftControllerEventQueueSlow.",
                   "s", [("histogram_quantile(0.99, sum by (le, instance) "
                          f"(rate(kafka_controller_event_queue_wait_seconds_bucket{{{SEL}}}[$__rate_interval])))", "wait p99 {{instance}}"),
                         ("histogram_quantile(0.99, sum by (le, instance) "
                          f"(rate(kafka_controller_event_processing_seconds_bucket{{{SEL}}}[$__rate_interval])))", "processing p99 {{instance}}")]))
    p.append(panel(l, "timeseries", "Controller event queue depth",
                   "Requests waiting in each controller's bounded queue (`kafka_controller_event_queue_depth`, "
                   "capacity 1024; senders wait when it is full). A queue that stays deep explains a long queue wait: "
                   "runbook KRaftControllerEventQueueSlow.",
                   "none", [(f"max by (instance) (kafka_controller_event_queue_depth{{{SEL}}})", "{{instance}}")]))
    p.append(panel(l, "heatmap", "Controller event processing (heatmap)",
                   "Time the controller spends on one event (`kafka_controller_event_processing_seconds`).",
                   "s", [(f"sum by (le) (rate(kafka_controller_event_processing_seconds_bucket{{{SEL}}}[$__rate_interval]))", "{{le}}")],
                   extra={"options": {"calculate": False, "yAxis": {"unit": "s"}}}))
    p.append(row(l, "Metadata log and images"))
    p.append(panel(l, "timeseries", "Broker metadata lag (offsets)",
                   "Offsets between the metadata log's high watermark and each broker's metadata cache "
                   "(`kafka_broker_metadata_lag`). Runbook KRaftMetadataApplyLag.",
                   "none", [(f"max by (instance) (kafka_broker_metadata_lag{{{SEL}}})", "{{instance}}")]))
    p.append(panel(l, "timeseries", "Controller metadata lag (offsets)",
                   "Offsets between the high watermark and the last record each controller replayed "
                   "(`kafka_controller_metadata_lag`). Runbook KRaftMetadataApplyLag.",
                   "none", [(f"max by (instance) (kafka_controller_metadata_lag{{{SEL}}})", "{{instance}}")]))
    p.append(panel(l, "timeseries", "Metadata lag (seconds)",
                   "Seconds since each node's image last reached the high watermark "
                   "(`kafka_metadata_last_applied_record_lag_seconds`), and on the quorum leader seconds since each "
                   "observer last caught up (`kafka_raft_follower_last_caught_up_age_seconds{kind=\"observer\"}`), "
                   "which keeps working when the node cannot be scraped. Above 30 s for 5 minutes: runbook KRaftMetadataApplyLag.",
                   "s", [(f"max by (instance) (kafka_metadata_last_applied_record_lag_seconds{{{SEL}}})", "{{instance}}"),
                         (f"max by (replica_id) (kafka_raft_follower_last_caught_up_age_seconds{{{observer}}})", "leader's view of node {{replica_id}}")]))
    p.append(panel(l, "timeseries", "Metadata publish time p99 by publisher",
                   "99th percentile of the time each metadata publisher (replica_manager, metadata_cache) took to act "
                   "on one image (`kafka_metadata_publish_duration_seconds`). Every later publisher and the next image "
                   "wait for it: a publisher near seconds explains a growing metadata lag (runbook KRaftMetadataApplyLag).",
                   "s", [("histogram_quantile(0.99, sum by (le, instance, publisher) (rate(kafka_metadata_publish_duration_seconds_bucket"
                          f"{{{SEL}}}[$__rate_interval])))", "{{instance}} {{publisher}}")]))
    p.append(panel(l, "timeseries", "Snapshot age",
                   "Seconds since each node last wrote or loaded a metadata snapshot (`kafka_metadata_snapshot_age_seconds`). "
                   "Above 2 h while the log grows: runbook KRaftSnapshotStale.",
                   "s", [(f"max by (instance) (kafka_metadata_snapshot_age_seconds{{{SEL}}})", "{{instance}}")]))
    p.append(panel(l, "timeseries", "Snapshot offset lag",
                   "High watermark minus the latest snapshot's offset on each node "
                   "(`kafka_controller_metadata_snapshot_offset_lag`, `kafka_broker_metadata_snapshot_offset_lag`): "
                   "records a restart replays. Runbook KRaftSnapshotStale.",
                   "none", [(f"max by (instance) (kafka_controller_metadata_snapshot_offset_lag{{{SEL}}})", "controller {{instance}}"),
                            (f"max by (instance) (kafka_broker_metadata_snapshot_offset_lag{{{SEL}}})", "broker {{instance}}")]))
    p.append(panel(l, "timeseries", "Committed metadata records",
                   "Metadata records committed per second as each controller sees them "
                   "(`kafka_controller_metadata_committed_records_total`); NoOpRecords keep it above 0 on an idle cluster.",
                   "ops", [(f"max by (instance) (rate(kafka_controller_metadata_committed_records_total{{{SEL}}}[$__rate_interval]))", "{{instance}}")]))
    p.append(panel(l, "heatmap", "Metadata commit latency (heatmap)",
                   "Active controller: time from handing a request's records to raft to their commit "
                   "(`kafka_controller_metadata_commit_latency_seconds`).",
                   "s", [(f"sum by (le) (rate(kafka_controller_metadata_commit_latency_seconds_bucket{{{SEL}}}[$__rate_interval]))", "{{le}}")],
                   extra={"options": {"calculate": False, "yAxis": {"unit": "s"}}}))
    p.append(panel(l, "timeseries", "Metadata commit latency p99",
                   "99th percentile of the active controller's commit latency "
                   "(`kafka_controller_metadata_commit_latency_seconds`); see KRaftCommitLatencyHigh for the raft layer.",
                   "s", [("histogram_quantile(0.99, sum by (le) "
                          f"(rate(kafka_controller_metadata_commit_latency_seconds_bucket{{{SEL}}}[$__rate_interval])))", "p99")]))
    p.append(panel(l, "timeseries", "Metadata errors",
                   "Metadata errors per node: controller (`kafka_controller_metadata_errors_total`), apply "
                   "(`kafka_metadata_apply_errors_total`) and load (`kafka_metadata_load_errors_total`). "
                   "Any increase: runbook KRaftMetadataErrors.",
                   "none", [(f"sum by (instance) (increase(kafka_controller_metadata_errors_total{{{SEL}}}[$__rate_interval]))", "controller {{instance}}"),
                            (f"sum by (instance) (increase(kafka_metadata_apply_errors_total{{{SEL}}}[$__rate_interval]))", "apply {{instance}}"),
                            (f"sum by (instance) (increase(kafka_metadata_load_errors_total{{{SEL}}}[$__rate_interval]))", "load {{instance}}")]))
    return dashboard("kraftd-quorum", "kraftd / KRaft quorum",
                     "The metadata quorum: leader, voters, elections, commits and replication lag. Open during a controller failover.",
                     p, LINKS)


def consumer_groups():
    l = Layout()
    gsel = f'consumergroup=~"$consumergroup", {SEL}'
    group_var = query_var("consumergroup", "Consumer group",
                          'label_values(kafka_group_members{instance=~"$instance"}, consumergroup)')
    p = [row(l, "Lag")]
    p.append(panel(l, "timeseries", "Lag in offsets by group and topic",
                   "Records each group has not consumed yet, per topic: high watermark minus committed offset, summed "
                   "over the partitions it has committed (`kafka_consumergroup_lag`, exported by the group's "
                   "coordinator). A partition the group never committed adds nothing. Runbook KafkaConsumerGroupLagGrowing.",
                   "none", [(f"max by (consumergroup, topic) (kafka_consumergroup_lag{{{gsel}}})", "{{consumergroup}} {{topic}}")],
                   w=12))
    p.append(panel(l, "timeseries", "Lag in seconds by group and topic",
                   "How long ago the oldest record each group has not consumed was appended, per topic "
                   "(`kafka_consumergroup_lag_seconds`); 0 when caught up. Runbook KafkaConsumerGroupLagHigh.",
                   "s", [(f"max by (consumergroup, topic) (kafka_consumergroup_lag_seconds{{{gsel}}})", "{{consumergroup}} {{topic}}")],
                   w=12))
    p.append(panel(l, "bargauge", "Groups most behind (seconds)",
                   "The ten group and topic pairs with the largest lag in seconds now (`kafka_consumergroup_lag_seconds`).",
                   "s", [(f"topk(10, max by (consumergroup, topic) (kafka_consumergroup_lag_seconds{{{gsel}}}))", "{{consumergroup}} {{topic}}")],
                   w=12, extra={"options": {"orientation": "horizontal", "displayMode": "basic",
                                            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}}))
    p.append(panel(l, "timeseries", "Lag trend (offsets per second)",
                   "How fast each group's lag grows (above 0) or shrinks (below 0) over 10 minutes "
                   "(`deriv` of `kafka_consumergroup_lag`): a group that cannot keep up stays above 0.",
                   "none", [(f"sum by (consumergroup) (deriv(kafka_consumergroup_lag{{{gsel}}}[10m]))", "{{consumergroup}}")],
                   w=12))
    p.append(panel(l, "timeseries", "Lag by partition (opt-in)",
                   "Lag in offsets per group and partition (`kafka_consumergroup_partition_lag`); exported only with "
                   "`kraftd.group.lag.per.partition.metrics=true`. One partition far behind the others points at a slow "
                   "member or a hot key.",
                   "none", [(f"max by (consumergroup, topic, partition) (kafka_consumergroup_partition_lag{{{gsel}}})",
                             "{{consumergroup}} {{topic}}-{{partition}}")], w=24))
    p.append(row(l, "Members and rebalances"))
    p.append(panel(l, "timeseries", "Members by group",
                   "Members of each group (`kafka_group_members`, on the group's coordinator). 0 members with lag "
                   "growing: runbook KafkaConsumerGroupStalled.",
                   "none", [(f"max by (consumergroup) (kafka_group_members{{{gsel}}})", "{{consumergroup}}")], w=8))
    p.append(panel(l, "timeseries", "Rebalances by group and cause",
                   "Rebalances started per minute, by group and cause (`kafka_group_rebalances_total`): member_joined, "
                   "member_rejoined, member_left, session_timeout, sync_timeout, write_failed. Runbook "
                   "KafkaConsumerGroupRebalanceStorm.",
                   "none", [(f"sum by (consumergroup, cause) (increase(kafka_group_rebalances_total{{{gsel}}}[$__rate_interval]))",
                             "{{consumergroup}} {{cause}}")], w=8))
    p.append(panel(l, "timeseries", "Groups by state",
                   "Groups coordinated by each broker, by state (`kafka_group_groups`): Stable is healthy, "
                   "PreparingRebalance and CompletingRebalance are rebalances in progress, Empty groups have no members.",
                   "none", [(f"sum by (state) (kafka_group_groups{{{SEL}}})", "{{state}}")], w=8))
    p.append(row(l, "Coordinator"))
    p.append(panel(l, "timeseries", "Offset commits",
                   "Offsets committed and acknowledged per second, by coordinator (`kafka_group_offset_commits_total`).",
                   "ops", [(f"sum by (instance) (rate(kafka_group_offset_commits_total{{{SEL}}}[$__rate_interval]))", "{{instance}}")],
                   w=8))
    p.append(panel(l, "timeseries", "Coordinator load time p99",
                   "Time a broker that became leader of a `__consumer_offsets` partition took to load its groups "
                   "(`kafka_group_coordinator_load_duration_seconds`); clients get COORDINATOR_LOAD_IN_PROGRESS meanwhile. "
                   "Runbook KafkaGroupCoordinatorLoadSlow.",
                   "s", [(f"histogram_quantile(0.99, sum by (le, instance) (rate(kafka_group_coordinator_load_duration_seconds_bucket{{{SEL}}}[$__rate_interval])))",
                          "{{instance}}")], w=8))
    p.append(panel(l, "timeseries", "Offsets partitions and committed offsets by coordinator",
                   "`__consumer_offsets` partitions each broker coordinates (`kafka_group_coordinator_partitions`) and the "
                   "committed offsets it holds (`kafka_group_offsets`); lag positions it could not read "
                   "(`kafka_group_lag_read_failures_total`).",
                   "none", [(f"kafka_group_coordinator_partitions{{{SEL}}}", "partitions {{instance}}"),
                            (f"kafka_group_offsets{{{SEL}}}", "offsets {{instance}}"),
                            (f"increase(kafka_group_lag_read_failures_total{{{SEL}}}[$__rate_interval])", "lag read failures {{instance}}")],
                   w=8))
    return dashboard("kraftd-consumer-groups", "kraftd / Consumer groups",
                     "Consumer lag in offsets and seconds, members, rebalances and the group coordinators.", p, LINKS,
                     extra_variables=(group_var,))


def main():
    out = os.path.join(ROOT, "dashboards")
    os.makedirs(out, exist_ok=True)
    for d in (cluster_overview(), quorum(), broker(), topics(), consumer_groups()):
        with open(os.path.join(out, d["uid"] + ".json"), "w") as f:
            json.dump(d, f, indent=2, sort_keys=False)
            f.write("\n")


if __name__ == "__main__":
    main()
