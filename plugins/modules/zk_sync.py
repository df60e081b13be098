#!/usr/bin/python
# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: zk_sync
short_description: Copy, verify or continuously mirror ZooKeeper subtrees between two ensembles
version_added: 0.1.0
description:
  - Moves a cluster's coordination state from one ZooKeeper ensemble to another without
    stopping the workloads. Data is copied byte for byte, with ACLs and the parents'
    C(cversion) (so the next sequential child gets the number it would have got on the
    source). Ephemeral nodes and the O(excludes) paths are never copied.
  - V(copy) makes the target subtrees equal to the source ones in one pipelined pass and
    returns. V(verify) compares both sides and reports every difference. V(mirror) copies,
    then applies every source change to the target (persistent recursive watch plus a
    periodic reconciliation that repairs what a watch missed) until O(duration) passes or
    O(stop_marker) appears, then drains and verifies.
  - All options are checked before anything is sent; a non-empty target is refused unless
    O(allow_non_empty_target=true), it already holds this engine's heartbeat (a resumed
    sync), or it already equals the source (a rerun of the same copy, which then changes
    nothing).
  - The engine is the collection's C(_zk_sync_*) module_utils; the C(orchestrator.platform.zk_sync)
    role runs the same code as a long-lived service.
author:
  - Orchestrator Platform Team (@orchestrator)
extends_documentation_fragment:
  - orchestrator.platform.attributes
attributes:
  check_mode:
    support: partial
    details:
      - Reads both sides and reports what would change without writing.
      - V(copy) is fully supported; V(verify) never writes; V(mirror) in check mode only
        reports what its initial copy would change and mirrors nothing.
  diff_mode:
    support: none
    details: Differences are reported in the result (RV(verify.differences)), not as a diff.
  idempotent:
    support: full
    details: A second V(copy) of an unchanged source changes nothing.
options:
  mode:
    description:
      - V(copy), V(verify) or V(mirror) (see the description).
    type: str
    required: true
    choices: [copy, verify, mirror]
  source:
    description:
      - Connection to the ensemble to read from.
      - Reading ACLs faithfully needs ADMIN on every node (ZooKeeper hides digest ids as
        C(user:x) otherwise, and the module then fails rather than write corrupted ACLs);
        authenticate as the super user or the nodes' owner.
    type: dict
    required: true
    suboptions: &conn
      hosts:
        description:
          - Connect string, comma-separated C(host:port) pairs. No chroot suffix.
        type: str
        required: true
      timeout:
        description:
          - Seconds to wait for a connection and each answer; also the session timeout asked for.
        type: float
        default: 5.0
      auth_scheme:
        description:
          - How to authenticate when O(source.auth_username) is set.
          - Only V(digest), because the engine's pipelined sessions speak no SASL (the other
            modules of the collection do).
        type: str
        choices: [digest]
        default: digest
      auth_username:
        description:
          - User to authenticate as. Without it the session is anonymous.
        type: str
      auth_password:
        description:
          - Password of the user.
        type: str
      use_ssl:
        description:
          - Connect with TLS.
        type: bool
        default: false
      ca:
        description:
          - CA bundle (PEM) to verify the servers with.
        type: path
      certfile:
        description:
          - Client certificate (PEM) for mutual TLS.
        type: path
      keyfile:
        description:
          - Private key (PEM) of the client certificate.
        type: path
      keyfile_password:
        description:
          - Password of the key file.
        type: str
      verify_certs:
        description:
          - Verify the servers' certificates. Only turn off in a lab.
        type: bool
        default: true
  target:
    description:
      - Connection to the ensemble to write to (same suboptions as O(source)).
      - The session must be allowed to create children under the nodes it creates with the
        source's ACLs, so authenticate as the super user.
    type: dict
    required: true
    suboptions: *conn
  paths:
    description:
      - Subtrees to sync. Each item is a path (the same on both sides) or a dict with
        C(source) and C(target) paths.
      - Source paths must not overlap each other, nor target paths; on the same ensemble a
        source path and a target path must not overlap either. Whether source and target are
        one ensemble is asked of the servers after connecting (a session opened on the source
        is resumed on the target), whatever addresses, names or proxies the connect strings
        use; when it cannot be told, the task fails before any write.
    type: list
    elements: raw
    required: true
  excludes:
    description:
      - Glob patterns (C(fnmatch), C(*) also matches C(/)) on absolute source paths never to
        copy, compare or delete, with their subtrees.
      - The default excludes ZooKeeper's own C(/zookeeper), Mesos masters' election nodes
        (C(*/json.info_*)) and Marathon's leader latch (C(*/leader-curator/*)).
    type: list
    elements: str
    default: ['/zookeeper', '/zookeeper/*', '*/json.info_*', '*/leader-curator/*']
  delete_extra:
    description:
      - Delete target nodes that the source does not have (never the target's ephemerals
        nor excluded paths).
      - With V(false) the copy, the mirror's repairs and reconciliations keep them, and
        V(verify) counts them (RV(verify.extra_kept)) without calling them differences. A node
        deleted on the source is still deleted on the target when the mirror sees its watch
        event; one deleted while the mirror was disconnected then stays on the target.
    type: bool
    default: true
  allow_non_empty_target:
    description:
      - Write into target subtrees that already hold data (it is overwritten, extras deleted).
      - Not needed to run the same copy again, since a target that already equals the source is
        not refused (nothing would be overwritten).
    type: bool
    default: false
  duration:
    description:
      - V(mirror) only. Seconds to mirror before draining and verifying.
      - V(mirror) needs O(duration), O(stop_marker) or both.
    type: float
  stop_marker:
    description:
      - V(mirror) only. A source znode path; mirroring stops soon after it appears.
    type: str
  drain_timeout:
    description:
      - V(mirror) only. Seconds allowed, after stopping, to apply what is pending, reconcile
        once and verify.
    type: float
    default: 120
  heartbeat_path:
    description:
      - Source znode, inside a synced path, that V(mirror) rewrites with a timestamp every
        O(heartbeat_interval); its arrival on the target gives the lag. Its presence on the
        target also marks the target as this engine's (a later run may resume into it).
      - When O(stop_marker) ends the mirror, the node is deleted on both sides, since the
        migration is over; a later sync into the target, in use by then, is refused as
        non-empty.
      - Defaults to C(zk_sync_heartbeat) under the first source path.
    type: str
  heartbeat_interval:
    description:
      - Seconds between heartbeats.
    type: float
    default: 1.0
  reconcile_interval:
    description:
      - Seconds between full reconciliation passes while mirroring (V(0) turns them off; one
        still runs after every reconnection and at the end).
    type: float
    default: 300
  batch_size:
    description:
      - Most nodes read per step of a copy or verify walk, split over the O(read_sessions)
        (each session reads its share in one pipelined round trip).
    type: int
    default: 2000
  max_batch_bytes:
    description:
      - Node data a walk holds (the batch being compared or written and the one read ahead) is
        kept near this many bytes (batches shrink), which bounds memory whatever the tree size.
    type: int
    default: 16777216
  write_window:
    description:
      - Write requests (multi batches of at most 1000 operations and 900 kB) in flight.
    type: int
    default: 4
  read_sessions:
    description:
      - Pipelined read sessions per ensemble for bulk reads (the copy and verify walks), spread
        over the ensemble's servers in turn. ZooKeeper answers one session's requests one after
        another, so bulk reads scale with sessions; V(1) keeps the load on each ensemble to one
        session on one server. Besides these, a mirror keeps one session on each ensemble, on
        the source for its watch and the reads the events cause, on the target for its writes.
    type: int
    default: 4
  max_differences:
    description:
      - Most differences listed in the result (all are counted).
    type: int
    default: 1000
  metrics_port:
    description:
      - Serve Prometheus metrics on this port while the module runs (needs prometheus-client).
    type: int
  metrics_address:
    description:
      - Address to serve the metrics on.
    type: str
    default: 127.0.0.1
  fail_on_differences:
    description:
      - Fail the task when V(verify) or the final verify of V(mirror) finds differences.
    type: bool
    default: true
requirements:
  - kazoo >= 2.8
  - prometheus-client (only with O(metrics_port))
notes:
  - The ACL of a node changed on the source with C(setACL) fires no watch, so V(mirror) copies it
    at the next reconciliation.
  - A target node's C(cversion) is never left behind the source's; it may end one higher (a
    child counter moves in steps of two when the engine makes up for ephemeral or excluded
    children) or more when a node was deleted and recreated on the source faster than the
    mirror saw; sequential names stay unique. RV(verify.cversion_ahead) counts those nodes.
seealso:
  - module: orchestrator.platform.zk_node
"""

EXAMPLES = r"""
- name: Report what a copy of /mesos and /marathon would change (check mode)
  orchestrator.platform.zk_sync:
    mode: copy
    source:
      hosts: old-zk1:2181,old-zk2:2181,old-zk3:2181
      auth_username: super
      auth_password: "{{ vault_zk_old_super }}"
    target:
      hosts: zk1:2181,zk2:2181,zk3:2181
      auth_username: super
      auth_password: "{{ vault_zk_super }}"
    paths: [/mesos, /marathon]
  check_mode: true

- name: Mirror until an operator creates /zk_sync_stop on the old ensemble
  orchestrator.platform.zk_sync:
    mode: mirror
    source: "{{ zk_old }}"
    target: "{{ zk_new }}"
    paths:
      - source: /marathon
        target: /marathon
    stop_marker: /zk_sync_stop
    metrics_port: 9745
  register: mirror

- name: Verify and fail on any difference
  orchestrator.platform.zk_sync:
    mode: verify
    source: "{{ zk_old }}"
    target: "{{ zk_new }}"
    paths: [/mesos, /marathon]
"""

RETURN = r"""
consistent:
  description: V(verify) and V(mirror) only. True when the final comparison found no difference.
  returned: when mode is verify or mirror
  type: bool
resumed:
  description: V(copy) only. The target already held this engine's heartbeat node (an earlier
    sync), so its non-empty subtrees were written without O(allow_non_empty_target).
  returned: when mode is copy, or mirror in check mode
  type: bool
copy:
  description: What the copy did (or would do in check mode). A mirror's own copy is
    RV(mirror.copy).
  returned: when mode is copy, or mirror in check mode
  type: dict
  contains:
    nodes:
      description: Source nodes copied or compared (ephemerals excluded).
      type: int
    created:
      description: Nodes created on the target.
      type: int
    data_updated:
      description: Nodes whose data was rewritten.
      type: int
    acl_updated:
      description: Nodes whose ACL was rewritten.
      type: int
    deleted:
      description: Target subtrees deleted (absent from the source).
      type: int
    cversion_fixed:
      description: Parents whose child counter was raised.
      type: int
    warnings:
      description: Things not copied exactly (at most 100).
      type: list
      elements: str
    seconds:
      description: Duration.
      type: float
verify:
  description: The comparison.
  returned: when mode is verify
  type: dict
  contains:
    consistent:
      description: No difference found.
      type: bool
    differences_count:
      description: Number of differences.
      type: int
    differences:
      description: The first O(max_differences) differences, each with C(path), C(target_path)
        and C(kind) (C(missing), C(extra), C(data), C(acl), C(cversion), C(ephemeral_on_target)).
      type: list
      elements: dict
    nodes_compared:
      description: Node pairs compared.
      type: int
    cversion_ahead:
      description: Target nodes whose child counter is more than one ahead.
      type: int
    extra_kept:
      description: Target subtrees the source does not have, kept (not differences) because
        O(delete_extra=false).
      type: int
    seconds:
      description: Duration.
      type: float
mirror:
  description: What the mirror did.
  returned: when mode is mirror and not in check mode
  type: dict
  contains:
    mirror_seconds:
      description: Time spent mirroring.
      type: float
    copy:
      description: The initial copy (as RV(copy)).
      type: dict
    stop_reason:
      description: C(duration) or C(stop_marker).
      type: str
    events_applied:
      description: Source changes applied from watch events.
      type: int
    repairs:
      description: Differences found and repaired outside the watch path.
      type: int
    errors:
      description: Failed operations (each retried or repaired).
      type: int
    resyncs:
      description: Full resynchronisations after a reconnection.
      type: int
    reconciliations:
      description: Periodic reconciliation passes started (every O(reconcile_interval)).
      type: int
    backlog_after_copy:
      description: Source changes made during the copy, re-checked on both sides before mirroring
        (not counted as repairs).
      type: int
    final_repairs:
      description: Differences the final reconciliation and verify re-checks fixed while draining.
      type: int
    lag:
      description: Heartbeat lag C(samples), C(p50_ms), C(p99_ms), C(max_ms).
      type: dict
    verify:
      description: The final comparison (as RV(verify)).
      type: dict
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_config import option_default
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_errors import ZkSyncError
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_metrics import (
    HAS_PROMETHEUS,
    PROMETHEUS_IMPORT_ERROR,
)
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_run import run


def connection_spec() -> dict:
    """The collection's connection options less SASL, which the engine's sessions do not speak."""
    options = {k: v for k, v in _zk.zookeeper_argument_spec().items() if not k.startswith("sasl_")}
    options["auth_scheme"] = dict(options["auth_scheme"], choices=["digest"])
    return options


def argument_spec() -> dict:
    conn = {
        "type": "dict",
        "required": True,
        "options": connection_spec(),
        "required_together": _zk.zookeeper_required_together(),
    }
    return {
        "mode": {"type": "str", "required": True, "choices": ["copy", "verify", "mirror"]},
        "source": dict(conn),
        "target": dict(conn),
        "paths": {"type": "list", "elements": "raw", "required": True},
        "excludes": {"type": "list", "elements": "str", "default": option_default("excludes")},
        "delete_extra": {"type": "bool", "default": option_default("delete_extra")},
        "allow_non_empty_target": {"type": "bool", "default": option_default("allow_non_empty_target")},
        "duration": {"type": "float"},
        "stop_marker": {"type": "str"},
        "drain_timeout": {"type": "float", "default": option_default("drain_timeout")},
        "heartbeat_path": {"type": "str"},
        "heartbeat_interval": {"type": "float", "default": option_default("heartbeat_interval")},
        "reconcile_interval": {"type": "float", "default": option_default("reconcile_interval")},
        "batch_size": {"type": "int", "default": option_default("batch_size")},
        "max_batch_bytes": {"type": "int", "default": option_default("max_batch_bytes")},
        "write_window": {"type": "int", "default": option_default("write_window")},
        "read_sessions": {"type": "int", "default": option_default("read_sessions")},
        "max_differences": {"type": "int", "default": option_default("max_differences")},
        "metrics_port": {"type": "int"},
        "metrics_address": {"type": "str", "default": "127.0.0.1"},
        "fail_on_differences": {"type": "bool", "default": True},
    }


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    if not _zk.HAS_KAZOO:
        module.fail_json(msg=missing_required_lib("kazoo"), exception=_zk.KAZOO_IMPORT_ERROR)
    if p["metrics_port"] and not HAS_PROMETHEUS:
        module.fail_json(
            msg=missing_required_lib("prometheus-client (for metrics_port)"),
            exception=PROMETHEUS_IMPORT_ERROR,
        )
    opts = {k: p[k] for k in p if k not in ("mode", "source", "target", "metrics_port", "metrics_address")}
    mode = p["mode"]
    if module.check_mode and mode == "mirror":
        mode = "copy"  # check mode reports what the initial copy would change; it mirrors nothing
    try:
        result = run(
            mode,
            p["source"],
            p["target"],
            opts,
            check_mode=module.check_mode,
            metrics_port=p["metrics_port"],
            metrics_address=p["metrics_address"],
        )
    except ZkSyncError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # anything else: a clear message and the traceback
        module.fail_json(msg=f"zk_sync {mode} failed: {_zk.explain(exc)}", exception=traceback.format_exc())
    if p["fail_on_differences"] and result.get("consistent") is False:
        verify = result.get("verify") or (result.get("mirror") or {}).get("verify") or {}
        module.fail_json(msg=f"{verify.get('differences_count')} difference(s) between source and target", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
