# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The collection's Mesos exporter (private): ``/metrics/snapshot`` of the host's master and/or agent.

Metric names, types and labels follow mesos/mesos_exporter 1.1.2 (``master.go``, ``slave.go``
and ``master_state.go``), so its Grafana dashboard and the Mesos alert mixin work. The tables
below say, per upstream metric, which snapshot fields make which labelled sample; they were
read off upstream's collectors, one entry per collector, in upstream's order. Differences
(docs/monitoring/metrics.md): upstream counters whose names do not end in ``_total`` are
``untyped`` (the client library would append ``_total``), and a series whose snapshot field is
absent is left out instead of being reported as 0. ``mesos_master_elected`` comes from
``master/elected``: 1 on the leader, 0 on standbys. ``/state`` (per-agent resources) is asked
of the elected master only; a standby redirects it.

One process per host polls what the host runs: ``master`` and/or ``agent`` base URLs. HTTP is
``_http.HttpClient`` (urllib only; basic auth and TLS options for Mesos HTTP authentication).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from ansible_collections.orchestrator.platform.plugins.module_utils._exporter import (
    BAD_RESPONSE,
    CONNECT,
    HTTP_STATUS,
    TIMEOUT,
    ConfigError,
    Exporter,
    PollError,
    PollResult,
    Target,
    row,
    run,
)
from ansible_collections.orchestrator.platform.plugins.module_utils._http import HttpClient, HttpError

DEFAULT_PORT = 9105
G = "gauge"
C = "counter"
U = "untyped"


class Spec(NamedTuple):
    """One upstream metric: name, type, help, label names, and either a tuple of
    ``(label values, field)`` pairs (``field`` a snapshot key or ``("-", a, b)`` for ``a - b``)
    or a regular expression whose groups are the label values (one series per matching key)."""

    name: str
    kind: str
    help: str
    labels: tuple
    source: Any


MASTER_SNAPSHOT = (
    Spec(
        "mesos_master_cpus",
        G,
        "Current CPU resources in cluster.",
        ("type",),
        (
            (("percent",), "master/cpus_percent"),
            (("total",), "master/cpus_total"),
            (("free",), ("-", "master/cpus_total", "master/cpus_used")),
            (("used",), "master/cpus_used"),
        ),
    ),
    Spec(
        "mesos_master_cpus_revocable",
        G,
        "Current revocable CPU resources in cluster.",
        ("type",),
        (
            (("percent",), "master/cpus_revocable_percent"),
            (("total",), "master/cpus_revocable_total"),
            (("free",), ("-", "master/cpus_revocable_total", "master/cpus_revocable_used")),
            (("used",), "master/cpus_revocable_used"),
        ),
    ),
    Spec(
        "mesos_master_gpus",
        G,
        "Current GPU resources in cluster.",
        ("type",),
        (
            (("percent",), "master/gpus_percent"),
            (("total",), "master/gpus_total"),
            (("free",), ("-", "master/gpus_total", "master/gpus_used")),
            (("used",), "master/gpus_used"),
        ),
    ),
    Spec(
        "mesos_master_gpus_revocable",
        G,
        "Current revocable GPU resources in cluster.",
        ("type",),
        (
            (("percent",), "master/gpus_revocable_percent"),
            (("total",), "master/gpus_revocable_total"),
            (("free",), ("-", "master/gpus_revocable_total", "master/gpus_revocable_used")),
            (("used",), "master/gpus_revocable_used"),
        ),
    ),
    Spec(
        "mesos_master_mem",
        G,
        "Current memory resources in cluster.",
        ("type",),
        (
            (("percent",), "master/mem_percent"),
            (("total",), "master/mem_total"),
            (("free",), ("-", "master/mem_total", "master/mem_used")),
            (("used",), "master/mem_used"),
        ),
    ),
    Spec(
        "mesos_master_mem_revocable",
        G,
        "Current revocable memory resources in cluster.",
        ("type",),
        (
            (("percent",), "master/mem_revocable_percent"),
            (("total",), "master/mem_revocable_total"),
            (("free",), ("-", "master/mem_revocable_total", "master/mem_revocable_used")),
            (("used",), "master/mem_revocable_used"),
        ),
    ),
    Spec(
        "mesos_master_disk",
        G,
        "Current disk resources in cluster.",
        ("type",),
        (
            (("percent",), "master/disk_percent"),
            (("total",), "master/disk_total"),
            (("free",), ("-", "master/disk_total", "master/disk_used")),
            (("used",), "master/disk_used"),
        ),
    ),
    Spec(
        "mesos_master_disk_revocable",
        G,
        "Current disk resources in cluster.",
        ("type",),
        (
            (("percent",), "master/disk_revocable_percent"),
            (("total",), "master/disk_revocable_total"),
            (("free",), ("-", "master/disk_revocable_total", "master/disk_revocable_used")),
            (("used",), "master/disk_revocable_used"),
        ),
    ),
    Spec("mesos_master_elected", G, "1 if master is elected leader, 0 if not", (), (((), "master/elected"),)),
    Spec(
        "mesos_master_uptime_seconds",
        G,
        "Number of seconds the master process is running.",
        (),
        (((), "master/uptime_secs"),),
    ),
    Spec(
        "mesos_master_slave_registration_events_total",
        C,
        "Total number of registration events on this master since it booted.",
        ("event",),
        ((("register",), "master/slave_registrations"), (("reregister",), "master/slave_reregistrations")),
    ),
    Spec(
        "mesos_master_recovery_slave_removal_events_total",
        C,
        "Total number of recovery removal events on this master since it booted.",
        ("event",),
        ((("removal",), "master/recovery_slave_removals"),),
    ),
    Spec(
        "mesos_master_slave_removal_events_total",
        C,
        "Total number of removal events on this master since it booted.",
        ("event",),
        (
            (("scheduled",), "master/slave_shutdowns_scheduled"),
            (("canceled",), "master/slave_shutdowns_canceled"),
            (("completed",), "master/slave_shutdowns_completed"),
            (("died",), ("-", "master/slave_removals", "master/slave_shutdowns_completed")),
        ),
    ),
    Spec(
        "mesos_master_slave_removal_events_reasons",
        U,
        "Total number of slave removal events by reason on this master since it booted.",
        ("reason",),
        "master/slave_removals/reason_(.*?)$",
    ),
    Spec(
        "mesos_master_slave_unreachable_events_total",
        C,
        "Total number of slave unreachable events on this master since it booted.",
        ("event",),
        (
            (("canceled",), "master/slave_unreachable_canceled"),
            (("completed",), "master/slave_unreachable_completed"),
            (("scheduled",), "master/slave_unreachable_scheduled"),
        ),
    ),
    Spec(
        "mesos_master_slaves_state",
        G,
        "Current number of slaves known to the master per connection and registration state.",
        ("state",),
        (
            (("connected_active",), "master/slaves_active"),
            (("connected_inactive",), "master/slaves_inactive"),
            (("disconnected_inactive",), "master/slaves_disconnected"),
            (("unreachable",), "master/slaves_unreachable"),
        ),
    ),
    Spec(
        "mesos_master_frameworks_state",
        G,
        "Current number of frames known to the master per connection and registration state.",
        ("state",),
        (
            (("connected_active",), "master/frameworks_active"),
            (("connected_inactive",), "master/frameworks_inactive"),
            (("disconnected_inactive",), "master/frameworks_disconnected"),
        ),
    ),
    Spec(
        "mesos_master_offers_pending",
        G,
        "Current number of offers made by the master which aren't yet accepted or declined by frameworks.",
        (),
        (((), "master/outstanding_offers"),),
    ),
    Spec(
        "mesos_master_task_states_exit_total",
        C,
        "Total number of tasks processed by exit state.",
        ("state",),
        (
            (("dropped",), "master/tasks_dropped"),
            (("errored",), "master/tasks_error"),
            (("failed",), "master/tasks_failed"),
            (("finished",), "master/tasks_finished"),
            (("gone_by_operator",), "master/tasks_gone_by_operator"),
            (("gone",), "master/tasks_gone"),
            (("killed",), "master/tasks_killed"),
            (("lost",), "master/tasks_lost"),
        ),
    ),
    Spec(
        "mesos_master_task_states_current",
        G,
        "Current number of tasks by state.",
        ("state",),
        (
            (("killing",), "master/tasks_killing"),
            (("running",), "master/tasks_running"),
            (("staging",), "master/tasks_staging"),
            (("starting",), "master/tasks_starting"),
            (("unreachable",), "master/tasks_unreachable"),
        ),
    ),
    Spec(
        "mesos_master_task_state_counts_by_source_reason",
        U,
        "Number of task states by source and reason",
        ("state", "source", "reason"),
        "master/task_(.*?)/source_(.*?)/reason_(.*?)$",
    ),
    Spec(
        "mesos_master_messages",
        U,
        "Number of messages by the master by state",
        ("type",),
        (
            (("authenticate_messages",), "master/messages_authenticate"),
            (("dropped_messages",), "master/dropped_messages"),
            (("deactivate_framework",), "master/messages_deactivate_framework"),
            (("decline_offers",), "master/messages_decline_offers"),
            (("executor_to_framework",), "master/messages_executor_to_framework"),
            (("exited_executor",), "master/messages_exited_executor"),
            (("framework_to_executor",), "master/messages_framework_to_executor"),
            (("kill_task",), "master/messages_kill_task"),
            (("launch_tasks",), "master/messages_launch_tasks"),
            (("reconcile_tasks",), "master/messages_reconcile_tasks"),
            (("register_framework",), "master/messages_register_framework"),
            (("register_slave",), "master/messages_register_slave"),
            (("reregister_framework",), "master/messages_reregister_framework"),
            (("reregister_slave",), "master/messages_reregister_slave"),
            (("resource_request",), "master/messages_resource_request"),
            (("revive_offers",), "master/messages_revive_offers"),
            (("status_update",), "master/messages_status_update"),
            (("status_update_acknowledgement",), "master/messages_status_update_acknowledgement"),
            (("suppress_offers",), "master/messages_suppress_offers"),
            (("unregister_framework",), "master/messages_unregister_framework"),
            (("unregister_slave",), "master/messages_unregister_slave"),
            (("update_slave",), "master/messages_update_slave"),
        ),
    ),
    Spec(
        "mesos_master_messages_outcomes_total",
        C,
        "Total number of messages by outcome of operation and direction.",
        ("source", "destination", "type", "outcome"),
        (
            (("framework", "executor", "", "valid"), "master/valid_framework_to_executor_messages"),
            (("framework", "executor", "", "invalid"), "master/invalid_framework_to_executor_messages"),
            (("executor", "framework", "", "valid"), "master/valid_executor_to_framework_messages"),
            (("executor", "framework", "", "invalid"), "master/invalid_executor_to_framework_messages"),
            (("framework", "slave", "status_update", "valid"), "master/valid_status_updates"),
            (("framework", "slave", "status_update", "invalid"), "master/invalid_status_updates"),
            (("slave", "framework", "status_update", "valid"), "master/valid_status_update_acknowledgements"),
            (("slave", "framework", "status_update", "invalid"), "master/invalid_status_update_acknowledgements"),
        ),
    ),
    Spec(
        "mesos_master_event_queue_length",
        G,
        "Current number of elements in event queue by type",
        ("type",),
        (
            (("message",), "master/event_queue_messages"),
            (("http_request",), "master/event_queue_http_requests"),
            (("dispatches",), "master/event_queue_dispatches"),
        ),
    ),
    Spec(
        "mesos_master_allocator_event_queue_dispatches",
        G,
        "Number of dispatch events in the allocator event queue.",
        (),
        (((), "allocator/event_queue_dispatches"),),
    ),
    Spec(
        "mesos_master_allocation_run_ms_count",
        G,
        "Number of allocation algorithm time measurements in the window",
        (),
        (((), "allocator/mesos/allocation_runs"),),
    ),
    Spec(
        "mesos_master_allocation_run_ms",
        G,
        "Time spent in allocation algorithm in ms.",
        ("type",),
        (
            (("mean",), "allocator/mesos/allocation_run_ms"),
            (("min",), "allocator/mesos/allocation_run_ms/min"),
            (("max",), "allocator/mesos/allocation_run_ms/max"),
            (("p50",), "allocator/mesos/allocation_run_ms/p50"),
            (("p90",), "allocator/mesos/allocation_run_ms/p90"),
            (("p95",), "allocator/mesos/allocation_run_ms/p95"),
            (("p99",), "allocator/mesos/allocation_run_ms/p99"),
            (("p999",), "allocator/mesos/allocation_run_ms/p999"),
            (("p9999",), "allocator/mesos/allocation_run_ms/p9999"),
        ),
    ),
    Spec(
        "mesos_master_allocation_runs",
        U,
        "Number of times the allocation alorithm has run",
        ("event",),
        ((("allocation",), "allocator/mesos/allocation_runs"),),
    ),
    Spec(
        "mesos_master_allocation_run_latency_ms_count",
        U,
        "Number of allocation batch latency measurements",
        ("event",),
        ((("allocation",), "allocator/mesos/allocation_run_latency_ms/count"),),
    ),
    Spec(
        "mesos_master_allocation_run_latency_ms",
        G,
        "Allocation batch latency in ms.",
        ("type",),
        (
            (("mean",), "allocator/mesos/allocation_run_latency_ms"),
            (("min",), "allocator/mesos/allocation_run_latency_ms/min"),
            (("max",), "allocator/mesos/allocation_run_latency_ms/max"),
            (("p50",), "allocator/mesos/allocation_run_latency_ms/p50"),
            (("p90",), "allocator/mesos/allocation_run_latency_ms/p90"),
            (("p95",), "allocator/mesos/allocation_run_latency_ms/p95"),
            (("p99",), "allocator/mesos/allocation_run_latency_ms/p99"),
            (("p999",), "allocator/mesos/allocation_run_latency_ms/p999"),
            (("p9999",), "allocator/mesos/allocation_run_latency_ms/p9999"),
        ),
    ),
    Spec(
        "mesos_master_event_queue_dispatches",
        G,
        "Number of dispatch events in the allocator mesos event queue.",
        (),
        (((), "allocator/mesos/event_queue_dispatches"),),
    ),
    Spec(
        "mesos_master_allocator_offer_filters_active",
        G,
        "Number of active offer filters for all frameworks within the role",
        ("role",),
        "allocator/mesos/offer_filters/roles/(.*?)/active",
    ),
    Spec(
        "mesos_master_allocator_role_quota_offered_or_allocated",
        G,
        "Amount of resources considered offered or allocated towards a role's quota guarantee.",
        ("role", "resource"),
        "allocator/mesos/quota/roles/(.*?)/resources/(.*?)/offered_or_allocated",
    ),
    Spec(
        "mesos_master_allocator_role_shares_dominant",
        G,
        "Dominance factor for a role",
        ("role",),
        "allocator/mesos/roles/(.*?)/shares/dominant",
    ),
    Spec(
        "mesos_master_allocator_role_quota_guarantee",
        G,
        "Amount of resources guaranteed for a role via quota",
        ("role", "resource"),
        "allocator/mesos/quota/roles/(.*?)/resources/(.*?)/guarantee",
    ),
    Spec(
        "mesos_master_allocator_resources_cpus",
        G,
        "Number of CPUs offered or allocated",
        ("type",),
        (
            (("total",), "allocator/mesos/resources/cpus/total"),
            (("offered_or_allocated",), "allocator/mesos/resources/cpus/offered_or_allocated"),
        ),
    ),
    Spec(
        "mesos_master_allocator_resources_disk",
        G,
        "Allocated or offered disk space in MB",
        ("type",),
        (
            (("total",), "allocator/mesos/resources/disk/total"),
            (("offered_or_allocated",), "allocator/mesos/resources/disk/offered_or_allocated"),
        ),
    ),
    Spec(
        "mesos_master_allocator_resources_mem",
        G,
        "Allocated or offered memory in MB",
        ("type",),
        (
            (("total",), "allocator/mesos/resources/mem/total"),
            (("offered_or_allocated",), "allocator/mesos/resources/mem/offered_or_allocated"),
        ),
    ),
    Spec(
        "mesos_master_frameworks_messages",
        U,
        "Messages passed around with the frameworks",
        ("framework", "type"),
        "frameworks/(.*?)/messages_(.*?)$",
    ),
    Spec(
        "mesos_registrar_registry_size_bytes",
        G,
        "Size of the registry in bytes",
        (),
        (((), "registrar/registry_size_bytes"),),
    ),
    Spec(
        "mesos_registrar_queued_operations",
        G,
        "Number of operations in the registry queue",
        (),
        (((), "registrar/queued_operations"),),
    ),
    Spec(
        "mesos_registrar_state_fetch_ms",
        G,
        "Duration of state JSON fetch in ms",
        (),
        (((), "registrar/state_fetch_ms"),),
    ),
    Spec(
        "mesos_registrar_state_store_ms",
        G,
        "Duration of state json store in ms.",
        ("type",),
        (
            (("mean",), "registrar/state_store_ms"),
            (("min",), "registrar/state_store_ms/min"),
            (("max",), "registrar/state_store_ms/max"),
            (("p50",), "registrar/state_store_ms/p50"),
            (("p90",), "registrar/state_store_ms/p90"),
            (("p95",), "registrar/state_store_ms/p95"),
            (("p99",), "registrar/state_store_ms/p99"),
            (("p999",), "registrar/state_store_ms/p999"),
            (("p9999",), "registrar/state_store_ms/p9999"),
        ),
    ),
    Spec(
        "mesos_registrar_log_recovered",
        G,
        "Recovered status of the registrar log",
        (),
        (((), "registrar/log/recovered"),),
    ),
    Spec(
        "mesos_registrar_log_ensemble_size",
        G,
        "Ensemble size of the registrar log",
        (),
        (((), "registrar/log/ensemble_size"),),
    ),
    Spec("mesos_overlay_log_recovered", G, "Recovered status of the overlay log", (), (((), "overlay/log/recovered"),)),
    Spec(
        "mesos_overlay_log_ensemble_size",
        G,
        "Ensemble size of the overlay log",
        (),
        (((), "overlay/log/ensemble_size"),),
    ),
)

AGENT_SNAPSHOT = (
    Spec(
        "mesos_slave_cpus",
        G,
        "Current CPU resources in cluster.",
        ("type",),
        (
            (("percent",), "slave/cpus_percent"),
            (("total",), "slave/cpus_total"),
            (("free",), ("-", "slave/cpus_total", "slave/cpus_used")),
            (("used",), "slave/cpus_used"),
        ),
    ),
    Spec(
        "mesos_slave_cpus_revocable",
        G,
        "Current revocable CPU resources in cluster.",
        ("type",),
        (
            (("percent",), "slave/cpus_revocable_percent"),
            (("total",), "slave/cpus_revocable_total"),
            (("free",), ("-", "slave/cpus_revocable_total", "slave/cpus_revocable_used")),
            (("used",), "slave/cpus_revocable_used"),
        ),
    ),
    Spec(
        "mesos_slave_mem",
        G,
        "Current memory resources in cluster.",
        ("type",),
        (
            (("percent",), "slave/mem_percent"),
            (("total",), "slave/mem_total"),
            (("free",), ("-", "slave/mem_total", "slave/mem_used")),
            (("used",), "slave/mem_used"),
        ),
    ),
    Spec(
        "mesos_slave_mem_revocable",
        G,
        "Current revocable memory resources in cluster.",
        ("type",),
        (
            (("percent",), "slave/mem_revocable_percent"),
            (("total",), "slave/mem_revocable_total"),
            (("free",), ("-", "slave/mem_revocable_total", "slave/mem_revocable_used")),
            (("used",), "slave/mem_revocable_used"),
        ),
    ),
    Spec(
        "mesos_slave_gpus",
        G,
        "Current GPU resources in cluster.",
        ("type",),
        (
            (("percent",), "slave/gpus_percent"),
            (("total",), "slave/gpus_total"),
            (("free",), ("-", "slave/gpus_total", "slave/gpus_used")),
            (("used",), "slave/gpus_used"),
        ),
    ),
    Spec(
        "mesos_slave_gpus_revocable",
        G,
        "Current revocable GPUS resources in cluster.",
        ("type",),
        (
            (("percent",), "slave/gpus_revocable_percent"),
            (("total",), "slave/gpus_revocable_total"),
            (("free",), ("-", "slave/gpus_revocable_total", "slave/gpus_revocable_used")),
            (("used",), "slave/gpus_revocable_used"),
        ),
    ),
    Spec(
        "mesos_slave_disk",
        G,
        "Current disk resources in cluster.",
        ("type",),
        (
            (("percent",), "slave/disk_percent"),
            (("total",), "slave/disk_total"),
            (("free",), ("-", "slave/disk_total", "slave/disk_used")),
            (("used",), "slave/disk_used"),
        ),
    ),
    Spec(
        "mesos_slave_disk_revocable",
        G,
        "Current disk resources in cluster.",
        ("type",),
        (
            (("percent",), "slave/disk_revocable_percent"),
            (("total",), "slave/disk_revocable_total"),
            (("free",), ("-", "slave/disk_revocable_total", "slave/disk_revocable_used")),
            (("used",), "slave/disk_revocable_used"),
        ),
    ),
    Spec(
        "mesos_slave_registered", G, "1 if slave is registered with master, 0 if not.", (), (((), "slave/registered"),)
    ),
    Spec(
        "mesos_slave_uptime_seconds",
        G,
        "Number of seconds the slave process is running.",
        (),
        (((), "slave/uptime_secs"),),
    ),
    Spec("mesos_slave_recovery_errors", U, "Total number of recovery errors", (), (((), "slave/recovery_errors"),)),
    Spec(
        "mesos_slave_recovery_time_secs", G, "Agent recovery time in seconds", (), (((), "slave/recovery_time_secs"),)
    ),
    Spec(
        "mesos_slave_executor_directory_max_allowed_age_secs",
        G,
        "Max allowed age of the executor directory",
        (),
        (((), "slave/executor_directory_max_allowed_age_secs"),),
    ),
    Spec(
        "mesos_slave_executor_state",
        G,
        "Current number of executors by state.",
        ("state",),
        (
            (("registering",), "slave/executors_registering"),
            (("running",), "slave/executors_running"),
            (("terminating",), "slave/executors_terminating"),
        ),
    ),
    Spec(
        "mesos_slave_frameworks_active",
        G,
        "Current number of active frameworks",
        (),
        (((), "slave/frameworks_active"),),
    ),
    Spec(
        "mesos_slave_executors_terminated",
        U,
        "Total number of executor terminations.",
        (),
        (((), "slave/executors_terminated"),),
    ),
    Spec(
        "mesos_slave_executors_preempted",
        U,
        "Total number of executor preemptions.",
        (),
        (((), "slave/executors_preempted"),),
    ),
    Spec(
        "mesos_slave_task_states_exit_total",
        C,
        "Total number of tasks processed by exit state.",
        ("state",),
        (
            (("errored",), "slave/tasks_error"),
            (("failed",), "slave/tasks_failed"),
            (("finished",), "slave/tasks_finished"),
            (("gone",), "slave/tasks_gone"),
            (("killed",), "slave/tasks_killed"),
            (("lost",), "slave/tasks_lost"),
        ),
    ),
    Spec(
        "mesos_slave_task_states_current",
        U,
        "Current number of tasks by state.",
        ("state",),
        (
            (("killing",), "slave/tasks_killing"),
            (("running",), "slave/tasks_running"),
            (("staging",), "slave/tasks_staging"),
            (("starting",), "slave/tasks_starting"),
        ),
    ),
    Spec(
        "mesos_slave_task_state_counts_by_source_reason",
        U,
        "Number of task states by source and reason",
        ("state", "source", "reason"),
        "slave/task_(.*?)/source_(.*?)/reason_(.*?)$",
    ),
    Spec(
        "mesos_slave_messages_outcomes_total",
        C,
        "Total number of messages by outcome of operation",
        ("type", "outcome"),
        (
            (("framework", "valid"), "slave/valid_framework_messages"),
            (("framework", "invalid"), "slave/invalid_framework_messages"),
            (("status", "valid"), "slave/valid_status_updates"),
            (("status", "invalid"), "slave/invalid_status_updates"),
        ),
    ),
    Spec(
        "mesos_slave_gc_path_removals_pending",
        G,
        "Number of sandbox paths that are currently pending agent garbage collection",
        (),
        (((), "gc/path_removals_pending"),),
    ),
    Spec(
        "mesos_slave_gc_path_removals_outcome",
        U,
        "Number of sandbox paths the agent removed",
        ("outcome",),
        ((("success",), "gc/path_removals_succeeded"), (("failed",), "gc/path_removals_failed")),
    ),
    Spec(
        "mesos_slave_container_launch_errors",
        U,
        "Total number of container launch errors",
        (),
        (((), "slave/container_launch_errors"),),
    ),
    Spec(
        "mesos_slave_containerizer_filesystem_containers_new_rootfs",
        U,
        "Number of containers changing root filesystem",
        (),
        (((), "containerizer/mesos/filesystem/containers_new_rootfs"),),
    ),
    Spec(
        "mesos_slave_containerizer_provisioner_bind_remove_rootfs_errors",
        U,
        "Number of errors from the containerizer attempting to bind the rootfs",
        (),
        (((), "containerizer/mesos/provisioner/bind/remove_rootfs_errors"),),
    ),
    Spec(
        "mesos_slave_containerizer_provisioner_remove_container_errors",
        U,
        "Number of errors from the containerizer attempting to remove a container",
        (),
        (((), "containerizer/mesos/provisioner/remove_container_errors"),),
    ),
    Spec(
        "mesos_slave_containerizer_container_destroy_errors",
        U,
        "Number of containers destroyed due to launch errors",
        (),
        (((), "containerizer/mesos/container_destroy_errors"),),
    ),
    Spec(
        "mesos_slave_containerizer_fetcher_task_fetches",
        U,
        "Total number of containerizer fetcher tasks by outcome",
        ("outcome",),
        (
            (("success",), "containerizer/fetcher/task_fetches_succeeded"),
            (("failed",), "containerizer/fetcher/task_fetches_failed"),
        ),
    ),
    Spec(
        "mesos_slave_containerizer_fetcher_cache_size",
        G,
        "Containerizer fetcher cache sizes in bytes",
        ("type",),
        (
            (("total",), "containerizer/fetcher/cache_size_total_bytes"),
            (("used",), "containerizer/fetcher/cache_size_used_bytes"),
            (
                ("free",),
                ("-", "containerizer/fetcher/cache_size_total_bytes", "containerizer/fetcher/cache_size_used_bytes"),
            ),
        ),
    ),
    Spec(
        "mesos_slave_containerizer_xfs_project_ids",
        G,
        "Number of project IDs available for the XFS disk isolator",
        ("type",),
        (
            (("total",), "containerizer/mesos/disk/project_ids_total"),
            (
                ("used",),
                ("-", "containerizer/mesos/disk/project_ids_total", "containerizer/mesos/disk/project_ids_free"),
            ),
            (("free",), "containerizer/mesos/disk/project_ids_free"),
        ),
    ),
)

# master_state.go: per agent, from /state of the elected master (label ``slave``: the agent's PID).
# Upstream multiplies Mesos' MB by 1024 for the *_bytes metrics; kept, so dashboards agree.
STATE_RESOURCES = (
    ("cpus", "resources", "cpus", 1, "Total slave CPUs (fractional)"),
    ("cpus_used", "used_resources", "cpus", 1, "Used slave CPUs (fractional)"),
    ("cpus_unreserved", "unreserved_resources", "cpus", 1, "Unreserved slave CPUs (fractional)"),
    ("mem_bytes", "resources", "mem", 1024, "Total slave memory in bytes"),
    ("mem_used_bytes", "used_resources", "mem", 1024, "Used slave memory in bytes"),
    ("mem_unreserved_bytes", "unreserved_resources", "mem", 1024, "Unreserved slave memory in bytes"),
    ("disk_bytes", "resources", "disk", 1024, "Total slave disk space in bytes"),
    ("disk_used_bytes", "used_resources", "disk", 1024, "Used slave disk space in bytes"),
    ("disk_unreserved_bytes", "unreserved_resources", "disk", 1024, "Unreserved slave disk space in bytes"),
    ("ports", "resources", "ports", None, "Total slave ports"),
    ("ports_used", "used_resources", "ports", None, "Used slave ports"),
    ("ports_unreserved", "unreserved_resources", "ports", None, "Unreserved slave ports"),
)
_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


def port_count(ranges: object) -> float:
    """Number of ports in a Mesos ranges string such as ``[31000-32000, 33000-33001]``."""
    text = str(ranges or "").strip().strip('[]"')
    if not text:
        return 0.0
    total = 0
    for part in text.split(","):
        m = _RANGE.match(part)
        if not m:
            raise ValueError(f"bad port range {part!r}")
        total += 1 + int(m.group(2)) - int(m.group(1))
    return float(total)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def snapshot_rows(snapshot: dict, specs: tuple) -> list:
    """The rows of ``specs`` that ``snapshot`` holds the fields for."""
    rows = []
    for spec in specs:
        if isinstance(spec.source, str):
            pattern = re.compile(spec.source)
            for key in sorted(snapshot):
                value = _number(snapshot[key])
                m = pattern.search(key)
                if value is None or not m or not all(m.groups()):
                    continue
                rows.append(
                    row(spec.name, spec.kind, spec.help, dict(zip(spec.labels, m.groups(), strict=True)), value)
                )
            continue
        for label_values, field in spec.source:
            if isinstance(field, tuple):
                left, right = _number(snapshot.get(field[1])), _number(snapshot.get(field[2]))
                value = None if left is None or right is None else left - right
            else:
                value = _number(snapshot.get(field))
            if value is not None:
                rows.append(
                    row(spec.name, spec.kind, spec.help, dict(zip(spec.labels, label_values, strict=True)), value)
                )
    return rows


def state_rows(state: dict) -> list:
    """master_state.go's per-agent rows from a master's ``/state``."""
    rows = []
    for agent in state.get("slaves") or []:
        pid = str(agent.get("pid", ""))
        for name, section, key, scale, help_text in STATE_RESOURCES:
            resources = agent.get(section) or {}
            if scale is None:
                value: float | None = port_count(resources.get(key))
            else:
                number = _number(resources.get(key, 0))
                value = None if number is None else number * scale
            if value is not None:
                rows.append(row("mesos_slave_" + name, G, help_text, {"slave": pid}, value))
    return rows


class MesosTarget(Target):
    """The snapshot of one Mesos process: ``master`` or ``agent``."""

    def __init__(self, role: str, base_url: str, client: HttpClient, timeout: float = 5.0):
        if role not in ("master", "agent"):
            raise ValueError(f"role must be master or agent, not {role!r}")
        self.name = role
        self.base_url = base_url.rstrip("/")
        self.client = client
        self.timeout = float(timeout)
        self.specs = MASTER_SNAPSHOT if role == "master" else AGENT_SNAPSHOT

    def _get_json(self, path: str) -> dict:
        url = self.base_url + path
        try:
            response = self.client.exchange("GET", url, timeout=self.timeout)
        except HttpError as exc:
            reason = TIMEOUT if "within" in str(exc) or "timed out" in str(exc) else CONNECT
            raise PollError(reason, str(exc)) from exc
        if response.status != 200:
            raise PollError(HTTP_STATUS, f"GET {url} answered HTTP {response.status}")
        try:
            body = response.json()
        except Exception as exc:
            raise PollError(BAD_RESPONSE, f"GET {url}: not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise PollError(BAD_RESPONSE, f"GET {url}: a JSON object was expected")
        return body

    def poll(self) -> PollResult:
        snapshot = self._get_json("/metrics/snapshot")
        expected = "master/elected" if self.name == "master" else "slave/registered"
        if expected not in snapshot:
            raise PollError(
                BAD_RESPONSE, f"{self.base_url}/metrics/snapshot has no {expected}: not a Mesos {self.name}?"
            )
        rows = snapshot_rows(snapshot, self.specs)
        soft = []
        if self.name == "master" and snapshot.get("master/elected") == 1:
            try:
                rows += state_rows(self._get_json("/state"))
            except PollError as exc:
                soft.append("state_" + exc.reason)
            except (ValueError, TypeError, AttributeError):
                soft.append("state_" + BAD_RESPONSE)
        return PollResult(rows, soft)


def build(config: dict) -> Exporter:
    """The exporter of the settings file: ``master`` and/or ``agent`` base URLs, ``port``,
    ``listen_address``, ``interval``, ``timeout`` and the HTTP options of ``_http.HttpClient``
    (``url_username``, ``url_password``, ``validate_certs``, ``ca_path``, ``client_cert``,
    ``client_key``)."""
    timeout = float(config.get("timeout", 5))
    params = {
        k: config[k]
        for k in ("url_username", "url_password", "validate_certs", "ca_path", "client_cert", "client_key")
        if k in config
    }
    params["timeout"] = timeout
    targets = []
    for role in ("master", "agent"):
        url = config.get(role)
        if url:
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ConfigError(f"{role}: an http(s) base URL such as http://127.0.0.1:5050 is expected, not {url!r}")
            targets.append(MesosTarget(role, url, HttpClient(params), timeout))
    if not targets:
        raise ConfigError("neither master nor agent is set: nothing to export")
    return Exporter(
        "mesos",
        targets,
        interval=float(config.get("interval", 15)),
        listen_address=str(config.get("listen_address", "0.0.0.0")),  # noqa: S104
        port=int(config.get("port", DEFAULT_PORT)),
        compat_error_counter="mesos_collector_errors_total",
    )


def main(argv: list) -> int:
    """Service entry: ``CONFIG.json``."""
    return run(build, argv)
