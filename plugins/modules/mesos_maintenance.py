#!/usr/bin/python
# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mesos_maintenance
short_description: Schedule Mesos maintenance windows for machines and bring them down and up
version_added: 0.1.0
description:
  - Puts machines (hostname and IP, as their agents announce them) into the leading master's
    maintenance schedule, marks them down for maintenance and brings them back up, following
    the Mesos rules - a machine must be scheduled (draining) before it can go down, and down
    before C(/master/machine/up) accepts it.
  - Reads C(GET /master/maintenance/schedule) and C(GET /master/maintenance/status) first and
    posts only what differs. The schedule POST replaces the whole schedule, so the machines of
    this task are merged into it; other machines' windows are kept as they are.
  - Requests go to the leading master, found from O(masters) (C(/master/redirect)) or O(zk).
author:
  - Orchestrator Platform Team (@orchestrator)
extends_documentation_fragment:
  - orchestrator.platform.mesos
  - orchestrator.platform.attributes
attributes:
  check_mode:
    support: full
    details: Reads the schedule and status, reports what would be posted, posts nothing.
  diff_mode:
    support: full
    details: The schedule and the modes of the given machines, before and after.
  idempotent:
    support: full
    details: Posts only when the schedule or a machine's mode differs from what is asked.
options:
  machines:
    description:
      - The machines, each with its C(hostname) and/or C(ip). Mesos recognises an agent as
        belonging to a machine only when both match what the agent announces, so give both.
      - The hostname is compared case-insensitively, as Mesos does.
    type: list
    elements: dict
    required: true
    suboptions:
      hostname:
        description: Hostname of the machine.
        type: str
      ip:
        description: IPv4 address of the machine.
        type: str
  state:
    description:
      - V(scheduled) - the machines are in the schedule with the given window (Mesos puts newly
        scheduled machines in DRAINING mode, and frameworks get inverse offers). Machines already
        down stay down.
      - V(down) - scheduled as for V(scheduled) (in the same run if needed), then marked down
        (C(/master/machine/down)) - their agents are shut down and cannot register.
      - V(up) - maintenance is over - machines that are down are brought up
        (C(/master/machine/up), which also removes them from the schedule), machines that are only
        scheduled are removed from the schedule. Machines not scheduled are left alone.
      - V(absent) - the machines' planned windows are cancelled (removed from the schedule). Fails for
        a machine that is down (Mesos refuses to unschedule it) - use V(up) to end its maintenance.
    type: str
    choices: [scheduled, down, up, absent]
    default: scheduled
  start:
    description:
      - Start of the maintenance window, as nanoseconds since the epoch or an ISO 8601 date and
        time (V(2026-12-01T22:00:00Z); without an offset, UTC).
      - When omitted, machines already scheduled keep their start, and machines not yet scheduled
        start now (so that the task stays idempotent).
      - Only used with O(state=scheduled) and O(state=down).
    type: str
  duration:
    description:
      - Length of the window, as nanoseconds or a string such as V(30m), V(1h30m), V(2d),
        V(4hrs).
      - When omitted, machines already scheduled keep their duration, and a new window has none
        (open-ended; Mesos never ends maintenance by itself either way).
      - Only used with O(state=scheduled) and O(state=down).
    type: str
notes:
  - Mesos keeps one schedule; windows group machines with the same unavailability. This module
    puts its machines into a window with exactly the wanted start and duration (an existing one
    if there is one), removes them from their old window, and drops windows that become empty.
  - Another client changing the schedule between this module's read and its POST is not detected
    (Mesos offers no compare-and-set for the schedule).
seealso:
  - module: orchestrator.platform.mesos_master_info
  - name: Mesos maintenance primitives
    description: How schedules, draining, down and up work.
    link: https://mesos.apache.org/documentation/latest/maintenance/
"""

EXAMPLES = r"""
- name: Schedule two agents for two hours of maintenance tonight
  orchestrator.platform.mesos_maintenance:
    zk: zk://zk1:2181,zk2:2181,zk3:2181/mesos
    machines:
      - {hostname: agent1, ip: 10.0.0.11}
      - {hostname: agent2, ip: 10.0.0.12}
    start: "2026-12-01T22:00:00Z"
    duration: 2h
    state: scheduled

- name: Take one agent down (scheduling it now if it is not scheduled yet)
  orchestrator.platform.mesos_maintenance:
    masters: [m1:5050, m2:5050, m3:5050]
    machines:
      - hostname: "{{ inventory_hostname }}"
        ip: "{{ ansible_default_ipv4.address }}"
    duration: 1h
    state: down
  delegate_to: localhost

- name: Bring it back when the work is done
  orchestrator.platform.mesos_maintenance:
    masters: [m1:5050, m2:5050, m3:5050]
    machines:
      - hostname: "{{ inventory_hostname }}"
        ip: "{{ ansible_default_ipv4.address }}"
    state: up
  delegate_to: localhost
"""

RETURN = r"""
leader:
  description: Base URL of the leading master the requests went to.
  returned: always
  type: str
  sample: http://m2:5050
schedule:
  description:
    - The maintenance schedule after the task (in check mode, what it would be), read back from
      the master after a change. Each window has C(machine_ids), C(unavailability) as Mesos
      gives it, plus C(start) (ISO 8601) and C(duration_seconds) for reading.
  returned: always
  type: list
  elements: dict
  sample:
    - machine_ids: [{hostname: agent1, ip: 10.0.0.11}]
      unavailability: {start: {nanoseconds: 1764626400000000000}, duration: {nanoseconds: 7200000000000}}
      start: "2026-12-01T22:00:00Z"
      duration_seconds: 7200.0
machines:
  description: The given machines with their maintenance mode before and after (V(up), V(draining) or V(down)).
  returned: always
  type: list
  elements: dict
  sample: [{hostname: agent1, ip: 10.0.0.11, mode_before: draining, mode: down}]
requests:
  description: The POSTs made (in check mode, that would be made), in order, with their bodies.
  returned: always
  type: list
  elements: dict
  sample: [{method: POST, path: /master/machine/down, body: [{hostname: agent1, ip: 10.0.0.11}]}]
"""

import time
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.orchestrator.platform.plugins.module_utils._mesos import (
    MODE_DOWN,
    MODE_DRAINING,
    MODE_UP,
    MesosClient,
    MesosError,
    check_params,
    describe_schedule,
    machine_key,
    machine_label,
    machine_modes,
    master_base_url,
    merge_schedule,
    mesos_argument_spec,
    mesos_required_one_of,
    mesos_required_together,
    normalize_machines,
    normalize_schedule,
    parse_duration,
    parse_start,
    parse_zk_url,
    schedule_equal,
    schedule_without,
)

SCHEDULE = "/master/maintenance/schedule"
STATUS = "/master/maintenance/status"
DOWN = "/master/machine/down"
UP = "/master/machine/up"


def plan(state: str, machines: list[dict], schedule: dict, modes: dict, *, start, duration, now: int) -> dict:
    """What to post, and the schedule and modes that result. Pure: no I/O."""
    keys = [machine_key(m) for m in machines]
    before = {k: modes.get(k, MODE_UP) for k in keys}
    requests: list[dict] = []
    after_modes = dict(before)
    if state in ("scheduled", "down"):
        new_schedule = merge_schedule(schedule, machines, start, duration, now)
        if not schedule_equal(schedule, new_schedule):
            requests.append({"method": "POST", "path": SCHEDULE, "body": new_schedule})
        for k in keys:
            if after_modes[k] == MODE_UP:
                after_modes[k] = MODE_DRAINING
        after_schedule = new_schedule
        if state == "down":
            to_down = [m for m in machines if before[machine_key(m)] != MODE_DOWN]
            if to_down:
                requests.append({"method": "POST", "path": DOWN, "body": to_down})
            after_modes = dict.fromkeys(keys, MODE_DOWN)
    elif state == "up":
        draining = {k for k in keys if before[k] == MODE_DRAINING}
        down = [m for m in machines if before[machine_key(m)] == MODE_DOWN]
        scheduled_up = {k for k in keys if before[k] == MODE_UP} & set(_scheduled_keys(schedule))
        # A machine that is scheduled but reported neither draining nor down is still in the
        # schedule: remove it with the draining ones.
        remove = draining | scheduled_up
        if remove:
            # Down machines must stay in a posted schedule (Mesos refuses otherwise);
            # /master/machine/up removes them afterwards.
            requests.append({"method": "POST", "path": SCHEDULE, "body": schedule_without(schedule, remove)})
        if down:
            requests.append({"method": "POST", "path": UP, "body": down})
        after_schedule = schedule_without(schedule, set(keys))
        after_modes = dict.fromkeys(keys, MODE_UP)
    else:  # absent
        down_now = [machine_label(m) for m in machines if before[machine_key(m)] == MODE_DOWN]
        if down_now:
            raise MesosError(
                "cannot remove machines that are down from the schedule (Mesos refuses it): "
                + ", ".join(down_now)
                + "; use state=up to end their maintenance"
            )
        after_schedule = schedule_without(schedule, set(keys))
        if not schedule_equal(schedule, after_schedule):
            requests.append({"method": "POST", "path": SCHEDULE, "body": after_schedule})
        after_modes = dict.fromkeys(keys, MODE_UP)
    return {"requests": requests, "schedule": after_schedule, "before": before, "after": after_modes}


def _scheduled_keys(schedule: dict) -> list:
    return [machine_key(m) for w in schedule["windows"] for m in w["machine_ids"]]


def modes_view(machines: list[dict], modes: dict) -> dict:
    return {machine_label(m): modes[machine_key(m)] for m in machines}


def run(module: AnsibleModule, client: MesosClient) -> dict:
    params = module.params
    machines = normalize_machines(params["machines"])
    state = params["state"]
    start = parse_start(params["start"])
    duration = parse_duration(params["duration"])
    if state in ("up", "absent") and (start is not None or duration is not None):
        module.warn(f"start and duration are ignored with state={state}")
    bases = [master_base_url(m, client.scheme) for m in params.get("masters") or []]
    zk = parse_zk_url(params["zk"]) if params.get("zk") else None
    leader = client.find_leader(bases, zk)

    schedule = normalize_schedule(client.get_json(leader, SCHEDULE))
    modes = machine_modes(client.get_json(leader, STATUS))
    now = int(time.time()) * 10**9
    p = plan(state, machines, schedule, modes, start=start, duration=duration, now=now)

    result_schedule = p["schedule"]
    after_modes = p["after"]
    if p["requests"] and not module.check_mode:
        for req in p["requests"]:
            client.post_json(leader, req["path"], req["body"])
        # Read back what the master now holds, so the result is the master's word.
        result_schedule = normalize_schedule(client.get_json(leader, SCHEDULE))
        read_modes = machine_modes(client.get_json(leader, STATUS))
        after_modes = {machine_key(m): read_modes.get(machine_key(m), MODE_UP) for m in machines}
        if not schedule_equal(result_schedule, p["schedule"]) or after_modes != p["after"]:
            module.warn(
                "the master's schedule or machine modes after the change differ from what was posted "
                "(another client changing maintenance at the same time?)"
            )

    result: dict = {
        "changed": bool(p["requests"]),
        "leader": leader,
        "schedule": describe_schedule(result_schedule),
        "machines": [
            {
                "hostname": m.get("hostname"),
                "ip": m.get("ip"),
                "mode_before": p["before"][machine_key(m)],
                "mode": after_modes[machine_key(m)],
            }
            for m in machines
        ],
        "requests": p["requests"],
    }
    if module._diff:
        result["diff"] = {
            "before": {"schedule": describe_schedule(schedule), "machines": modes_view(machines, p["before"])},
            "after": {"schedule": describe_schedule(result_schedule), "machines": modes_view(machines, after_modes)},
        }
    return result


def main() -> None:
    spec = mesos_argument_spec()
    spec.update(
        machines={
            "type": "list",
            "elements": "dict",
            "required": True,
            "options": {"hostname": {"type": "str"}, "ip": {"type": "str"}},
        },
        state={"type": "str", "choices": ["scheduled", "down", "up", "absent"], "default": "scheduled"},
        start={"type": "str"},
        duration={"type": "str"},
    )
    module = AnsibleModule(
        argument_spec=spec,
        supports_check_mode=True,
        required_together=mesos_required_together(),
        required_one_of=mesos_required_one_of(),
    )
    try:
        check_params(module.params)
        result = run(module, MesosClient(module.params))
    except MesosError as exc:
        module.fail_json(msg=exc.msg, exception=traceback.format_exc(), **exc.result())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
