#!/usr/bin/python
# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: zk_info
short_description: Report the state of a ZooKeeper ensemble from its members' srvr and mntr answers
version_added: 0.1.0
description:
  - Asks every server in O(hosts) for C(srvr) (and the leader for C(mntr)) over a plain TCP
    socket, and reports each server's mode, zxid, latency and load, the leader, and whether the
    ensemble has a healthy quorum.
  - Never relies on C(ruok) (it answers C(imok) without a quorum).
  - Needs no Python library beyond the standard one, so it can run on the ZooKeeper hosts
    themselves. The servers must allow C(srvr) and C(mntr) in C(4lw.commands.whitelist)
    (and C(conf) to name the members missing from O(hosts)).
  - Talks to the plain client port; a TLS-only C(secureClientPort) cannot answer four-letter words.
  - Never changes anything.
author:
  - orchestrator.platform maintainers (@orchestrator-platform)
extends_documentation_fragment:
  - orchestrator.platform.zookeeper
  - orchestrator.platform.attributes
  - orchestrator.platform.attributes.info_module
notes:
  - A server that cannot be reached, or answers "not currently serving requests", counts as not
    serving. A server whose whitelist refuses C(srvr) also counts as not serving, with O(hosts)
    named in its RV(servers[].error).
  - O(timeout) bounds each connection and each answer; the servers are asked in parallel.
"""

EXAMPLES = r"""
- name: Read the ensemble's state
  orchestrator.platform.zk_info:
    hosts: zk1:2181,zk2:2181,zk3:2181
  register: zk

- name: Refuse to go on without a healthy quorum
  ansible.builtin.assert:
    that: zk.quorum_healthy
    fail_msg: "ZooKeeper quorum unhealthy: {{ zk.servers | map(attribute='error') | select | list }}"

- name: Wait until a restarted member serves again, zxid caught up with the leader
  orchestrator.platform.zk_info:
    hosts: "{{ groups['zookeeper'] | map('regex_replace', '$', ':2181') | join(',') }}"
    timeout: 2
  register: zk
  until: zk.quorum_healthy and (zk.servers | selectattr('serving') | list | length) == (zk.servers | length)
  retries: 60
  delay: 2
"""

RETURN = r"""
servers:
  description: One entry per server of O(hosts), in the same order.
  returned: always
  type: list
  elements: dict
  contains:
    host:
      description: Host as given.
      type: str
      sample: zk1
    port:
      description: Client port.
      type: int
      sample: 2181
    reachable:
      description: Whether a TCP connection to the client port succeeded.
      type: bool
      sample: true
    mode:
      description: C(leader), C(follower), C(observer), C(standalone), or null when unreachable or not serving.
      type: str
      sample: follower
    serving:
      description: Whether the server answered C(srvr) with a mode (it serves clients).
      type: bool
      sample: true
    zxid:
      description: Last zxid the server saw, as an integer; null when not serving.
      type: int
      sample: 4294967305
    latency_min:
      description: Minimum request latency (ms) since the server's counters were reset.
      type: float
      sample: 0
    latency_avg:
      description: Average request latency (ms).
      type: float
      sample: 0.4
    latency_max:
      description: Maximum request latency (ms).
      type: float
      sample: 9
    outstanding_requests:
      description: Queued requests.
      type: int
      sample: 0
    znode_count:
      description: Number of znodes.
      type: int
      sample: 7
    connections:
      description: Client connections.
      type: int
      sample: 1
    followers:
      description: Learners connected to the leader (leader only, else null).
      type: int
      sample: 2
    synced_followers:
      description: Followers in sync with the leader (leader only, else null).
      type: int
      sample: 2
    version:
      description: ZooKeeper version string.
      type: str
      sample: 3.8.0-..., built on 2024-12-29 17:54 UTC
    error:
      description: Why the server is unreachable, not serving or partly unknown; null when fine.
      type: str
      sample: not currently serving requests (no quorum, or still joining)
leader:
  description: C(host:port) of the leader (of the standalone server when only one is given), or null.
  returned: always
  type: str
  sample: zk2:2181
quorum_size:
  description:
    - Number of voting members, from the leader's C(mntr) (C(zk_quorum_size)); without a leader,
      the number of servers given that do not report themselves as observers.
  returned: always
  type: int
  sample: 3
serving_count:
  description: Number of servers that serve clients.
  returned: always
  type: int
  sample: 3
quorum_healthy:
  description:
    - True only if exactly one server leads and a majority of the voting members serve (or the
      only server given serves in standalone mode).
    - Voting members missing from O(hosts) count as serving as far as the leader reports
      followers in sync beyond the ones given (C(zk_synced_followers) of its C(mntr)), so the
      leader's address alone is enough; a member given but unreachable never counts.
  returned: always
  type: bool
  sample: true
not_asked:
  description:
    - Members of the ensemble missing from O(hosts) (not asked), when the leader counts more
      voting members than were given, as their C(server.N=...) lines of the leader's C(conf);
      one placeholder per member when C(conf) is not in C(4lw.commands.whitelist).
  returned: always
  type: list
  elements: str
  sample: ["server.2=zk2:2888:3888:participant", "server.3=zk3:2888:3888:participant"]
problems:
  description: Inconsistencies found, such as two leaders (the servers are not one ensemble).
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.orchestrator.platform.plugins.module_utils._zk import (
    ZkError,
    ensemble_status,
    zookeeper_argument_spec,
)


def main() -> None:
    module = AnsibleModule(argument_spec=zookeeper_argument_spec(client=False), supports_check_mode=True)
    if module.params["timeout"] <= 0:
        module.fail_json(msg="timeout: must be more than 0 seconds")
    try:
        status = ensemble_status(module.params["hosts"], module.params["timeout"])
    except ZkError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **status)


if __name__ == "__main__":
    main()
