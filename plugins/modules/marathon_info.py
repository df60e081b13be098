#!/usr/bin/python
# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: marathon_info
short_description: Report Marathon's leader, configuration, apps with tasks and health, deployments and queue
version_added: 0.1.0
description:
  - Reads Marathon's v2 REST API - the leader (C(/v2/leader)), the instance's information
    (C(/v2/info) - version, framework id, ZooKeeper URL, leader, whether it is elected), the apps
    (all, or one with O(app_id)) with their task counts, tasks, health check results and
    deployments, the running deployments (C(/v2/deployments)) and the launch queue (C(/v2/queue)).
  - Never changes anything.
author:
  - Orchestrator Platform Team (@orchestrator)
extends_documentation_fragment:
  - orchestrator.platform.marathon
  - orchestrator.platform.attributes
  - orchestrator.platform.attributes.info_module
options:
  gather:
    description:
      - What to read. Each item costs one request.
    type: list
    elements: str
    choices: [leader, info, apps, deployments, queue]
    default: [leader, info, apps, deployments, queue]
  app_id:
    description:
      - Read only this app (C(GET /v2/apps/{id})); it must start with C(/).
      - An app Marathon does not know is reported as RV(apps=[]) with RV(app=null).
    type: str
  tasks:
    description:
      - Embed each app's tasks (with their health check results) and its last task failure.
    type: bool
    default: true
seealso:
  - module: orchestrator.platform.marathon_app
"""

EXAMPLES = r"""
- name: Read Marathon's state
  orchestrator.platform.marathon_info:
    urls: [http://marathon1:8080, http://marathon2:8080, http://marathon3:8080]
  register: marathon

- name: The app must be running all its instances, all healthy
  orchestrator.platform.marathon_info:
    urls: [marathon1:8080]
    app_id: /prod/web
    gather: [apps]
  register: web
  until: web.app.healthy
  retries: 30
  delay: 5

- name: Nothing may be stuck in the launch queue
  ansible.builtin.assert:
    that: marathon.queue | length == 0
    fail_msg: "{{ marathon.queue | map(attribute='app') | map(attribute='id') | list }} wait for offers"
"""

RETURN = r"""
leader:
  description: C(host:port) of the leading Marathon (C(/v2/leader)); null when there is none or it was not gathered.
  returned: always
  type: str
  sample: marathon2:8080
info:
  description: C(/v2/info) of the instance that answered (null when not gathered).
  returned: always
  type: dict
  contains:
    version:
      description: Marathon's version.
      type: str
      sample: 1.10.26
    name:
      description: C(marathon).
      type: str
      sample: marathon
    elected:
      description: Whether the answering instance is the leader.
      type: bool
      sample: true
    leader:
      description: C(host:port) of the leader.
      type: str
      sample: marathon2:8080
    framework_id:
      description: Marathon's Mesos framework id (C(frameworkId)).
      type: str
      sample: 96d7da70-b731-4cfb-96a7-0ee877af615d-0000
    zk:
      description: The ZooKeeper URL of Marathon's state (C(zookeeper_config.zk)).
      type: str
      sample: zk://zk1:2181,zk2:2181,zk3:2181/marathon
    master:
      description: The Mesos master Marathon was started with (C(marathon_config.master)).
      type: str
      sample: zk://zk1:2181,zk2:2181,zk3:2181/mesos
    raw:
      description: The whole C(/v2/info) answer.
      type: dict
apps:
  description: The apps (one with O(app_id)), each summarised; empty when not gathered.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: App id.
      type: str
      sample: /prod/web
    instances:
      description: Wanted instances.
      type: int
      sample: 3
    tasks_running:
      description: C(tasksRunning).
      type: int
      sample: 3
    tasks_staged:
      description: C(tasksStaged).
      type: int
      sample: 0
    tasks_healthy:
      description: C(tasksHealthy) (stays 0 for an app without health checks).
      type: int
      sample: 3
    tasks_unhealthy:
      description: C(tasksUnhealthy).
      type: int
      sample: 0
    health_checks:
      description: Number of health checks the app defines.
      type: int
      sample: 1
    healthy:
      description:
        - Whether the app runs all its instances and, when it has health checks, all are healthy,
          and no deployment is running for it.
      type: bool
      sample: true
    deployments:
      description: Ids of the deployments running for the app.
      type: list
      elements: str
      sample: []
    version:
      description: The app's version.
      type: str
      sample: "2026-12-07T10:00:00.000Z"
    tasks:
      description: The tasks (id, host, ports, state, health results) with O(tasks=true).
      type: list
      elements: dict
    last_task_failure:
      description: Marathon's C(lastTaskFailure) with O(tasks=true), else null.
      type: dict
    definition:
      description: The app as Marathon returns it.
      type: dict
app:
  description: With O(app_id), its entry of RV(apps) (null when Marathon does not know it); otherwise null.
  returned: always
  type: dict
deployments:
  description:
    - The running deployments (C(/v2/deployments)) - id, version, affected apps, current step
      of total steps, current actions.
  returned: always
  type: list
  elements: dict
  sample: [{id: 97c136bf-5a28-4821-9d94-480d9fbb01c8, affectedApps: [/foo], currentStep: 1, totalSteps: 1}]
queue:
  description: The launch queue (C(/v2/queue)'s C(queue)) - apps waiting for offers with their counts and delays.
  returned: always
  type: list
  elements: dict
api_calls:
  description: HTTP requests made.
  returned: always
  type: int
  sample: 5
url:
  description: The Marathon URL that answered last.
  returned: always
  type: str
  sample: http://marathon1:8080
"""

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.orchestrator.platform.plugins.module_utils._marathon import (
    MarathonClient,
    MarathonError,
    check_params,
    marathon_argument_spec,
    marathon_required_together,
    validate_app,
)

GATHER = ["leader", "info", "apps", "deployments", "queue"]
TASK_EMBEDS = ("tasks", "lastTaskFailure")
COUNT_EMBEDS = ("counts", "deployments")


def summarize_app(app: dict) -> dict:
    """What marathon_info reports of one app of ``/v2/apps``."""
    instances = app.get("instances") or 0
    running = app.get("tasksRunning") or 0
    healthy = app.get("tasksHealthy") or 0
    checks = len(app.get("healthChecks") or [])
    deployments = [d.get("id") for d in app.get("deployments") or [] if isinstance(d, dict)]
    tasks = app.get("tasks")
    return {
        "id": app.get("id"),
        "instances": instances,
        "tasks_running": running,
        "tasks_staged": app.get("tasksStaged") or 0,
        "tasks_healthy": healthy,
        "tasks_unhealthy": app.get("tasksUnhealthy") or 0,
        "health_checks": checks,
        "healthy": running >= instances and (checks == 0 or healthy >= instances) and not deployments,
        "deployments": deployments,
        "version": app.get("version"),
        "tasks": [
            {
                "id": t.get("id"),
                "host": t.get("host"),
                "ports": t.get("ports"),
                "state": t.get("state"),
                "started_at": t.get("startedAt"),
                "version": t.get("version"),
                "health_check_results": t.get("healthCheckResults") or [],
            }
            for t in tasks or []
            if isinstance(t, dict)
        ]
        if tasks is not None
        else None,
        "last_task_failure": app.get("lastTaskFailure"),
        "definition": app,
    }


def summarize_info(info: dict) -> dict:
    return {
        "version": info.get("version"),
        "name": info.get("name"),
        "elected": info.get("elected"),
        "leader": info.get("leader"),
        "framework_id": info.get("frameworkId"),
        "zk": (info.get("zookeeper_config") or {}).get("zk"),
        "master": (info.get("marathon_config") or {}).get("master"),
        "raw": info,
    }


def gather(client: MarathonClient, params: dict) -> dict:
    wanted = params["gather"]
    result: dict = {"leader": None, "info": None, "apps": [], "app": None, "deployments": [], "queue": []}
    if "leader" in wanted:
        # 404 "There is no leader" (leader.raml) is an answer, not an error.
        answer = client.request("GET", "/v2/leader", expected=(200, 404))
        result["leader"] = answer.json().get("leader") if answer.status == 200 else None
    if "info" in wanted:
        result["info"] = summarize_info(client.get_json("/v2/info"))
    if "apps" in wanted:
        embeds = COUNT_EMBEDS + (TASK_EMBEDS if params["tasks"] else ())
        if params.get("app_id"):
            app = client.get_app(params["app_id"], embed=tuple(f"app.{e}" for e in embeds))
            result["apps"] = [summarize_app(app)] if app else []
            result["app"] = result["apps"][0] if app else None
        else:
            listing = client.get_json("/v2/apps", query=[("embed", f"apps.{e}") for e in embeds])
            result["apps"] = [summarize_app(a) for a in listing.get("apps") or [] if isinstance(a, dict)]
    if "deployments" in wanted:
        result["deployments"] = client.deployments()
    if "queue" in wanted:
        queue = client.get_json("/v2/queue")
        result["queue"] = queue.get("queue") or [] if isinstance(queue, dict) else []
    return result


def main() -> None:
    spec = marathon_argument_spec()
    spec.update(
        gather={"type": "list", "elements": "str", "choices": GATHER, "default": GATHER},
        app_id={"type": "str"},
        tasks={"type": "bool", "default": True},
    )
    module = AnsibleModule(
        argument_spec=spec,
        supports_check_mode=True,
        required_together=marathon_required_together(),
    )
    client = None
    try:
        bases = check_params(module.params)
        if module.params.get("app_id"):
            errors = validate_app({"id": module.params["app_id"]})
            if errors:
                raise MarathonError("app_id: " + "; ".join(errors))
        client = MarathonClient(module.params, bases)
        result = gather(client, module.params)
        result.update(api_calls=client.calls, url=client.answered)
    except MarathonError as exc:
        module.fail_json(
            msg=exc.msg, exception=traceback.format_exc(), api_calls=client.calls if client else 0, **exc.result()
        )
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
