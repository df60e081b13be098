#!/usr/bin/python
# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mesos_master_info
short_description: Report the Mesos masters, the leader (from ZooKeeper and over HTTP), agents and frameworks
version_added: 0.1.0
description:
  - Finds the leading Mesos master two ways and says whether they agree.
  - From ZooKeeper, the leader is the master whose C(json.info_<sequence>) znode under the Mesos
    path has the lowest sequence (other children such as C(log_replicas) are ignored).
  - Over HTTP, every master answers C(/master/redirect) with C(307) and C(Location //host:port)
    of the leader (even the leader itself), or 503 when it knows no leader.
  - Reports every master's health (C(/health)), version (C(/version)), whether it considers
    itself elected (C(master/elected) of its C(/metrics/snapshot)) and which leader it names.
  - From the leader, reports the elected time, agents (active, inactive, resources total and
    used), frameworks (id, name, active, connected, roles, failover timeout, their tasks counted by
    state), tasks counted by state (C(/master/state)) and selected C(/metrics/snapshot) values.
  - Never changes anything. Also callable as C(orchestrator.platform.mesos_master_status).
author:
  - Orchestrator Platform Team (@orchestrator)
extends_documentation_fragment:
  - orchestrator.platform.mesos
  - orchestrator.platform.attributes
  - orchestrator.platform.attributes.info_module
options:
  require_leader:
    description:
      - Fail when no leading master is found, or the one found does not answer (after
        O(retries) more tries, O(retry_delay) seconds apart, which lets an election in progress
        finish).
      - When false (the default), a cluster without a leader is reported with
        RV(leader.reachable=false) and the leader-only facts (agents, frameworks, metrics) null.
    type: bool
    default: false
  metrics:
    description:
      - Names of the leader's C(/metrics/snapshot) values to return in RV(metrics).
      - Defaults to C(master/elected), C(master/uptime_secs), C(master/slaves_active),
        C(master/slaves_inactive), C(master/slaves_connected), C(master/slaves_disconnected),
        C(master/frameworks_active), C(master/frameworks_inactive), C(master/tasks_running),
        C(master/tasks_staging), C(master/cpus_total), C(master/cpus_used), C(master/mem_total),
        C(master/mem_used), C(master/disk_total), C(master/disk_used), C(registrar/log/recovered).
    type: list
    elements: str
notes:
  - Masters found in ZooKeeper are probed too, so O(zk) alone is enough to see every running master;
    list the masters in O(masters) as well to see the ones that are down.
  - Masters are probed in parallel without retries; O(timeout) bounds each request.
seealso:
  - module: orchestrator.platform.mesos_maintenance
"""

EXAMPLES = r"""
- name: Read the cluster's state through ZooKeeper and the masters
  orchestrator.platform.mesos_master_info:
    zk: zk://zk1:2181,zk2:2181,zk3:2181/mesos
    masters:
      - m1:5050
      - m2:5050
      - m3:5050
  register: mesos

- name: Both views of the leader must agree
  ansible.builtin.assert:
    that: mesos.leader.agree
    fail_msg: >-
      ZooKeeper says {{ mesos.leader.zookeeper.hostport | default('none') }},
      the masters say {{ mesos.leader.http }}

- name: Wait until a leader is elected again after a restart
  orchestrator.platform.mesos_master_info:
    masters: "{{ groups['mesos_masters'] | map('regex_replace', '$', ':5050') | list }}"
    timeout: 3
  register: mesos
  until: mesos.leader.reachable and mesos.leader.agree
  retries: 30
  delay: 2

- name: Fail clearly when no master leads, over HTTPS with basic auth
  orchestrator.platform.mesos_master_info:
    masters: [https://m1.example.com:5050]
    url_username: ops
    url_password: "{{ vault_mesos_ops_secret }}"
    ca_path: /etc/ssl/certs/internal-ca.pem
    require_leader: true
"""

RETURN = r"""
leader:
  description: The leading master as seen by ZooKeeper and over HTTP.
  returned: always
  type: dict
  contains:
    url:
      description:
        - Base URL of the leader the other facts come from (the HTTP view first, else ZooKeeper's).
        - Null without a leader.
      type: str
      sample: http://m2:5050
    hostport:
      description: C(host:port) of that leader; null without a leader.
      type: str
      sample: m2:5050
    reachable:
      description:
        - Whether that leader answered C(/master/state) and C(/metrics/snapshot).
        - False without a leader, and for a leader that ZooKeeper still lists but that died (its
          znode lives until its ZooKeeper session expires).
      type: bool
      sample: true
    http:
      description:
        - C(host:port) named by the masters' C(/master/redirect) (the most common answer).
        - Null when no master names one.
      type: str
      sample: m2:5050
    zookeeper:
      description: The leader's MasterInfo from its znode (null without O(zk) or without a znode).
      type: dict
      sample: {hostname: m2, ip: 10.0.0.2, port: 5050, hostport: "m2:5050", id: "6f5c...", pid: "master@10.0.0.2:5050",
               version: "1.11.0", sequence: 7, znode: /mesos/json.info_0000000007}
    agree:
      description: Whether both views were available and name the same master (false when either is missing).
      type: bool
      sample: true
elected_time:
  description: When the leader was elected (seconds since the epoch, from C(/master/state)); null without a leader.
  returned: always
  type: float
  sample: 1764139200.123
cluster:
  description: The C(--cluster) name; null when not set or without a leader.
  returned: always
  type: str
  sample: production
version:
  description: Mesos version of the leader; null without a leader.
  returned: always
  type: str
  sample: 1.11.0
masters:
  description: Every master asked (from O(masters), then those found only in ZooKeeper).
  returned: always
  type: list
  elements: dict
  contains:
    url:
      description: Base URL asked.
      type: str
      sample: http://m1:5050
    hostport:
      description: C(host:port).
      type: str
      sample: m1:5050
    reachable:
      description: Whether the master answered HTTP at all.
      type: bool
      sample: true
    healthy:
      description: Whether C(/health) answered 200.
      type: bool
      sample: true
    version:
      description: Version from C(/version); null when unknown.
      type: str
      sample: 1.11.0
    elected:
      description: Whether the master reports C(master/elected) = 1; null when unknown.
      type: bool
      sample: false
    leader:
      description:
        - C(host:port) this master's C(/master/redirect) names.
        - Null when it knows none (503) or did not answer.
      type: str
      sample: m2:5050
    in_zookeeper:
      description: Whether the master has a C(json.info_*) znode (null without O(zk)).
      type: bool
      sample: true
    error:
      description: What went wrong asking this master; null when nothing did.
      type: str
      sample: "cannot reach http://m3:5050/health: [Errno 111] Connection refused"
contenders:
  description: The masters registered in ZooKeeper, the leader (lowest sequence) first; empty without O(zk).
  returned: always
  type: list
  elements: dict
  sample: [{hostname: m2, port: 5050, hostport: "m2:5050", sequence: 7, znode: /mesos/json.info_0000000007}]
agents:
  description: Agents registered with the leader; null without a leader.
  returned: always
  type: dict
  contains:
    total:
      description: Registered agents.
      type: int
      sample: 2
    active:
      description: Active agents.
      type: int
      sample: 2
    inactive:
      description: Registered agents that are not active.
      type: int
      sample: 0
    resources_total:
      description: Sum of the agents' C(cpus), C(gpus), C(mem) (MB) and C(disk) (MB).
      type: dict
      sample: {cpus: 8.0, gpus: 0.0, mem: 15360.0, disk: 102400.0}
    resources_used:
      description: Sum of the resources used by tasks, same keys.
      type: dict
      sample: {cpus: 1.5, gpus: 0.0, mem: 2048.0, disk: 0.0}
    list:
      description: One entry per agent (id, hostname, pid, active, version, resources, used_resources, attributes).
      type: list
      elements: dict
frameworks:
  description:
    - Frameworks registered with the leader (C(frameworks) of its C(/master/state)); null without a leader.
    - A framework whose scheduler disconnected stays listed, with RV(frameworks.list[].connected=false) and
      RV(frameworks.list[].active=false), until it re-subscribes or its C(failover_timeout) expires; then the
      master removes it (counted in RV(frameworks.completed)) and kills its tasks.
  returned: always
  type: dict
  contains:
    total:
      description: Registered frameworks.
      type: int
      sample: 2
    active:
      description: Active frameworks (subscribed and not deactivated).
      type: int
      sample: 2
    inactive:
      description: Registered frameworks that are not active.
      type: int
      sample: 0
    connected:
      description: Frameworks whose scheduler is connected.
      type: int
      sample: 2
    disconnected:
      description: Frameworks whose scheduler is disconnected (within their failover timeout).
      type: int
      sample: 0
    completed:
      description: Frameworks the leader removed (torn down, or failover timeout expired) that it still remembers.
      type: int
      sample: 1
    list:
      description: One entry per registered framework.
      type: list
      elements: dict
      contains:
        id:
          description: FrameworkID.
          type: str
          sample: 6f5c1a3e-2b4d-4c1e-9f0a-5b7d9e8c1a2b-0001
        name:
          description: Framework name.
          type: str
          sample: marathon
        active:
          description: Whether the framework is active.
          type: bool
          sample: true
        connected:
          description: Whether its scheduler is connected; null when the master does not say.
          type: bool
          sample: true
        recovered:
          description: Whether the framework is only known from agents after a master failover (not re-subscribed yet).
          type: bool
          sample: false
        role:
          description: The framework's (legacy, single) role; null when the master reports C(roles) instead.
          type: str
          sample: "*"
        roles:
          description: The framework's roles (MULTI_ROLE frameworks); null when the master reports C(role) instead.
          type: list
          elements: str
          sample: ["*"]
        user:
          description: User the framework's tasks run as.
          type: str
          sample: root
        checkpoint:
          description: Whether the framework checkpoints (its tasks survive an agent restart).
          type: bool
          sample: true
        failover_timeout:
          description: Seconds the master keeps the framework and its tasks after its scheduler disconnects.
          type: float
          sample: 604800.0
        tasks_running:
          description: Its tasks in C(TASK_RUNNING).
          type: int
          sample: 3
        tasks:
          description: Its non-terminal tasks (including those on unreachable agents) counted by state.
          type: dict
          sample: {TASK_RUNNING: 3, TASK_STAGING: 1}
        completed_tasks:
          description: Terminal tasks the master still lists for it (bounded by C(--max_completed_tasks_per_framework)).
          type: int
          sample: 12
tasks_running:
  description: Tasks in C(TASK_RUNNING) state over all frameworks (from C(/master/state)); null without a leader.
  returned: always
  type: int
  sample: 4
tasks:
  description:
    - Non-terminal tasks of all registered frameworks counted by state (from C(/master/state)); null without a leader.
    - Tasks of frameworks the master does not know yet after a failover (C(orphan_tasks) of old releases)
      are not counted.
  returned: always
  type: dict
  sample: {TASK_RUNNING: 4, TASK_STARTING: 1}
metrics:
  description: The selected C(/metrics/snapshot) values of the leader (null for a name the master does not have);
    null without a leader.
  returned: always
  type: dict
  sample:
    master/elected: 1.0
    master/uptime_secs: 3120.5
    master/slaves_active: 2.0
    registrar/log/recovered: 1.0
problems:
  description: Inconsistencies found, for example masters naming different leaders, or ZooKeeper and HTTP disagreeing.
  returned: always
  type: list
  elements: str
  sample: []
"""

import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.orchestrator.platform.plugins.module_utils._mesos import (
    DEFAULT_METRICS,
    MesosClient,
    MesosError,
    check_params,
    hostport_of,
    master_base_url,
    mesos_argument_spec,
    mesos_required_one_of,
    mesos_required_together,
    parse_zk_url,
    select_metrics,
    summarize_state,
    zk_masters,
)


def probe_master(client: MesosClient, base: str) -> dict:
    """Health, version, elected flag and leader view of one master (no retries: a probe)."""
    out: dict = {
        "url": base,
        "hostport": hostport_of(base),
        "reachable": False,
        "healthy": False,
        "version": None,
        "elected": None,
        "leader": None,
        "in_zookeeper": None,
        "error": None,
    }
    try:
        health = client.exchange("GET", base + "/health")
    except MesosError as exc:
        out["error"] = exc.msg
        return out
    out["reachable"] = True
    out["healthy"] = health.status == 200
    errors = [] if out["healthy"] else [f"/health answered {health.status}"]
    try:
        version = client.exchange("GET", base + "/version")
        if version.status == 200:
            out["version"] = (version.json() or {}).get("version")
        else:
            errors.append(f"/version answered {version.status}")
    except MesosError as exc:
        errors.append(exc.msg)
    try:
        metrics = client.exchange("GET", base + "/metrics/snapshot")
        if metrics.status == 200:
            elected = (metrics.json() or {}).get("master/elected")
            out["elected"] = None if elected is None else elected == 1
        else:
            errors.append(f"/metrics/snapshot answered {metrics.status}")
    except MesosError as exc:
        errors.append(exc.msg)
    target, error = client.redirect_target(base)
    if target:
        out["leader"] = hostport_of(target)
    elif error and "(503)" not in error:
        errors.append(error)
    out["error"] = "; ".join(errors) or None
    return out


def same_master(a: str | None, b: dict | None) -> bool:
    """Whether ``host:port`` a names the master of MasterInfo b (by hostname or by IP)."""
    if not a or not b:
        return False
    names = {b["hostport"].lower()}
    if b.get("ip"):
        names.add(f"{b['ip']}:{b['port']}")
    return a.lower() in names


def discover(client: MesosClient, params: dict, problems: list[str]) -> tuple[list[str], list[dict], bool]:
    """Masters to probe (given ones, then those only found in ZooKeeper) and the znodes read."""
    bases = [master_base_url(m, client.scheme) for m in params.get("masters") or []]
    registered: list[dict] = []
    zk_ok = False
    if params.get("zk"):
        zk = parse_zk_url(params["zk"])
        try:
            registered = zk_masters(zk, client.timeout)
            zk_ok = True
        except MesosError as exc:
            problems.append(exc.msg)
        if zk_ok and not registered:
            problems.append(f"no json.info_* znode under {zk['path']}: no master is leading (or --zk differs)")
    known = {hostport_of(b).lower() for b in bases}
    for info in registered:
        if info["hostport"].lower() not in known:
            bases.append(f"{client.scheme}://{info['hostport']}")
            known.add(info["hostport"].lower())
    return list(dict.fromkeys(bases)), registered, zk_ok


def leader_views(masters: list[dict], registered: list[dict], problems: list[str]) -> dict:
    """The leader as the masters' redirects and ZooKeeper name it, and whether they agree."""
    views = Counter(m["leader"].lower() for m in masters if m["leader"])
    http_leader = views.most_common(1)[0][0] if views else None
    if len(views) > 1:
        problems.append(
            "masters name different leaders: "
            + ", ".join(f"{m['hostport']} -> {m['leader']}" for m in masters if m["leader"])
        )
    zk_leader = registered[0] if registered else None
    agree = bool(http_leader and zk_leader and same_master(http_leader, zk_leader))
    if http_leader and zk_leader and not agree:
        problems.append(f"ZooKeeper names {zk_leader['hostport']} as the leader, the masters name {http_leader}")
    elected = [m["hostport"] for m in masters if m["elected"]]
    if len(elected) > 1:
        problems.append("more than one master reports master/elected=1: " + ", ".join(elected))
    return {"http": http_leader, "zookeeper": zk_leader, "agree": agree}


def leader_facts(client: MesosClient, leader_url: str, names: list[str], problems: list[str]) -> dict:
    """Elected time, agents, frameworks, tasks and metrics, from the leader."""
    state = summarize_state(client.get_json(leader_url, "/master/state"))
    # The leader's own metrics: /metrics/snapshot is served by every master, never redirected.
    snapshot = client.get_json(leader_url, "/metrics/snapshot")
    running = snapshot.get("master/tasks_running")
    if isinstance(running, (int, float)) and int(running) != state["tasks_running"]:
        problems.append(
            f"/master/state lists {state['tasks_running']} running tasks, master/tasks_running says {int(running)}"
        )
    return {
        "elected_time": state["elected_time"],
        "cluster": state["cluster"],
        "version": state["version"],
        "agents": state["agents"],
        "frameworks": state["frameworks"],
        "tasks_running": state["tasks_running"],
        "tasks": state["tasks"],
        "metrics": select_metrics(snapshot, names),
    }


def gather(client: MesosClient, params: dict) -> dict:
    problems: list[str] = []
    bases, registered, zk_ok = discover(client, params, problems)
    masters: list[dict] = []
    if bases:
        with ThreadPoolExecutor(max_workers=min(len(bases), 8)) as pool:
            masters = list(pool.map(lambda b: probe_master(client, b), bases))
    if zk_ok:
        for m in masters:
            m["in_zookeeper"] = any(same_master(m["hostport"], info) for info in registered)
    leader = leader_views(masters, registered, problems)
    leader_url = None
    if leader["http"]:
        # Keep the URL (scheme) the user gave for that master, if it is one of them.
        given = [m["url"] for m in masters if m["hostport"].lower() == leader["http"]]
        leader_url = given[0] if given else f"{client.scheme}://{leader['http']}"
    elif leader["zookeeper"]:
        leader_url = f"{client.scheme}://{leader['zookeeper']['hostport']}"
    result: dict = {
        "leader": {
            "url": leader_url,
            "hostport": hostport_of(leader_url) if leader_url else None,
            "reachable": False,
            **leader,
        },
        "masters": masters,
        "contenders": registered,
        "elected_time": None,
        "cluster": None,
        "version": None,
        "agents": None,
        "frameworks": None,
        "tasks_running": None,
        "tasks": None,
        "metrics": None,
        "problems": problems,
    }
    if leader_url is not None:
        try:
            result.update(leader_facts(client, leader_url, params.get("metrics") or list(DEFAULT_METRICS), problems))
            result["leader"]["reachable"] = True
        except MesosError as exc:
            # ZooKeeper may still list a master that just died (until its session expires).
            problems.append(f"the leader {hostport_of(leader_url)} did not answer: {exc.msg}")
    return result


def main() -> None:
    spec = mesos_argument_spec()
    spec.update(
        require_leader={"type": "bool", "default": False},
        metrics={"type": "list", "elements": "str"},
    )
    module = AnsibleModule(
        argument_spec=spec,
        supports_check_mode=True,
        required_together=mesos_required_together(),
        required_one_of=mesos_required_one_of(),
    )
    params = module.params
    try:
        check_params(params)
        client = MesosClient(params)
        result = gather(client, params)
        attempt = 0
        while params["require_leader"] and not result["leader"]["reachable"] and attempt < client.retries:
            attempt += 1
            client.pause()
            result = gather(client, params)
    except MesosError as exc:
        module.fail_json(msg=exc.msg, exception=traceback.format_exc(), **exc.result())
    if params["require_leader"] and not result["leader"]["reachable"]:
        reasons = [m["error"] or f"{m['hostport']} knows no leader" for m in result["masters"]] + result["problems"]
        module.fail_json(
            msg="no leading Mesos master found (require_leader=true): " + "; ".join(dict.fromkeys(reasons)),
            **result,
        )
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
