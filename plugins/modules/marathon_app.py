#!/usr/bin/python
# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: marathon_app
short_description: Create, update, scale, restart and remove Marathon apps, idempotently
version_added: 0.1.0
description:
  - Manages one Marathon app through the v2 REST API (C(/v2/apps/{id})).
  - Reads the app first (C(GET /v2/apps/{id})) and compares only what the definition gives
    with what Marathon holds. Fields Marathon computes (C(version), C(versionInfo), task counts,
    C(deployments), C(tasks)), defaults Marathon fills in, and service ports Marathon assigned
    where the definition asks for port 0 are not changes. An unchanged app costs one GET and
    starts no deployment.
  - Checks the definition before anything is sent. Marathon silently ignores fields it does not
    know, so a typo such as C(instance) instead of C(instances) would pass unnoticed; this
    module refuses every field that is not in Marathon's AppDefinition schema (or in the RAML of
    Marathon 1.8 to 1.10 - C(tty), C(role), C(check), C(resourceLimits)), naming it, as well as
    wrong types, values out of range (negative O(instances), C(upgradeStrategy) values
    outside [0, 1]), ids without a leading slash, and C(cmd) with C(args).
  - An update replaces the definition (C(PUT ?partialUpdate=false)) unless O(update_mode=merge).
  - Never sends C(force=true) unless O(force=true). A deployment of another change that holds
    the app (Marathon answers 409) is waited for up to O(lock_timeout) seconds, or named in
    the failure.
author:
  - Orchestrator Platform Team (@orchestrator)
extends_documentation_fragment:
  - orchestrator.platform.marathon
  - orchestrator.platform.attributes
attributes:
  check_mode:
    support: full
    details: Reads the app and reports what would change; sends no write.
  diff_mode:
    support: full
    details: The app definition (without the fields Marathon computes) before and after.
  idempotent:
    support: full
    details:
      - With O(state=present) and O(state=absent), a second run sends nothing.
      - O(state=restarted) restarts the app's tasks on every run, as asked.
options:
  app:
    description:
      - The app definition, as Marathon's AppDefinition (C(id), C(cmd) or C(args),
        C(container), C(cpus), C(mem), C(instances), C(healthChecks), ...).
      - Mutually exclusive with O(app_file).
      - Needed to create an app. For an existing app, O(app_id) with O(instances) or
        O(upgrade_strategy) alone scales or re-tunes it without restating the definition.
    type: dict
  app_file:
    description:
      - A file with the app definition as JSON or YAML (YAML needs PyYAML where the module runs).
      - Read on the host the module runs on (use C(delegate_to) for a file on the controller,
        or O(app) with a C(lookup)).
    type: path
  app_id:
    description:
      - The app's id, for example V(/prod/web). Must start with C(/).
      - Taken from the definition when omitted; when both are given they must be equal.
    type: str
  state:
    description:
      - V(present) - the app exists with this definition (created or updated).
      - V(absent) - the app does not exist (C(DELETE /v2/apps/{id}), with C(force=false)
        unless O(force=true), although Marathon's own default for DELETE is C(force=true)).
      - V(restarted) - as V(present), then all tasks are restarted (C(POST /v2/apps/{id}/restart))
        unless the update just made already replaces them.
    type: str
    choices: [present, absent, restarted]
    default: present
  instances:
    description:
      - Number of instances; overrides C(instances) of the definition.
      - A change of instances only is a scale (no task is restarted).
    type: int
  upgrade_strategy:
    description:
      - Overrides C(upgradeStrategy) of the definition.
      - Both values are fractions of the instance count in [0, 1]. Marathon keeps at least
        C(ceil(instances * minimum_health_capacity)) healthy tasks and at most
        C(floor(instances * (1 + maximum_over_capacity))) tasks during an update.
      - Changing the strategy restarts every task (Marathon treats it as a new version).
    type: dict
    suboptions:
      minimum_health_capacity:
        description: Marathon's C(minimumHealthCapacity), in [0, 1] (Marathon's default 1).
        type: float
      maximum_over_capacity:
        description: Marathon's C(maximumOverCapacity), in [0, 1] (Marathon's default 1).
        type: float
  update_mode:
    description:
      - V(replace) - the definition replaces Marathon's (C(partialUpdate=false)); a field left
        out goes back to Marathon's default, and a field left out that Marathon holds with a
        value other than its default is a change.
      - V(merge) - only the given fields change (C(partialUpdate=true), Marathon's own default);
        fields left out are neither compared nor changed.
      - Without O(app) and O(app_file) (O(instances) or O(upgrade_strategy) only), always V(merge).
    type: str
    choices: [replace, merge]
    default: replace
  force:
    description:
      - Send C(force=true) - cancel a deployment that holds the app and apply this change at once.
      - Can leave old and new tasks mixed; only for a deployment that is stuck.
    type: bool
    default: false
  wait:
    description:
      - Wait until the deployment this change started is finished - gone from C(/v2/deployments),
        which Marathon does only after the new tasks are running and their health and readiness
        checks pass.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the deployment with O(wait=true). On timeout the module fails with
        the deployment's current step and the app's task counts; the deployment goes on.
    type: float
    default: 300
  lock_timeout:
    description:
      - Seconds to wait for other deployments that hold the app (Marathon answers 409 "App is
        locked by one or more deployments") before trying once more.
      - V(0) fails at once, naming the deployments and their current steps.
    type: float
    default: 0
  poll_interval:
    description:
      - Seconds between two reads of C(/v2/deployments) while waiting.
    type: float
    default: 0.5
notes:
  - Changing anything other than O(instances) (including labels and the upgrade strategy) makes
    Marathon replace every task, following the upgrade strategy.
  - Fields Marathon fills from its own configuration (C(portDefinitions), C(networks), C(role),
    C(unreachableStrategy)) are compared only when the definition gives them.
seealso:
  - module: orchestrator.platform.marathon_info
  - name: Marathon REST API
    description: The v2 apps and deployments endpoints.
    link: https://mesosphere.github.io/marathon/api-console/index.html
"""

EXAMPLES = r"""
- name: Run a web app with three instances and a health check
  orchestrator.platform.marathon_app:
    urls: [http://marathon1:8080, http://marathon2:8080]
    app:
      id: /prod/web
      cmd: python3 -m http.server $PORT0
      cpus: 0.25
      mem: 128
      instances: 3
      healthChecks:
        - protocol: HTTP
          path: /
          portIndex: 0
      upgradeStrategy:
        minimumHealthCapacity: 0.5
        maximumOverCapacity: 0.2
    wait_timeout: 600

- name: Deploy from a JSON file kept with the playbook
  orchestrator.platform.marathon_app:
    urls: [marathon1:8080]
    app: "{{ lookup('ansible.builtin.file', 'apps/web.json') | from_json }}"

- name: Scale it to five instances (no restart)
  orchestrator.platform.marathon_app:
    urls: [marathon1:8080]
    app_id: /prod/web
    instances: 5

- name: Restart its tasks over HTTPS with basic auth, waiting for a running deployment first
  orchestrator.platform.marathon_app:
    urls: [https://marathon.example.com:8443]
    url_username: deployer
    url_password: "{{ vault_marathon_password }}"
    ca_path: /etc/ssl/certs/internal-ca.pem
    app_id: /prod/web
    state: restarted
    lock_timeout: 120

- name: Remove it
  orchestrator.platform.marathon_app:
    urls: [marathon1:8080]
    app_id: /prod/web
    state: absent
"""

RETURN = r"""
app:
  description:
    - The app as Marathon holds it after the task (C(GET /v2/apps/{id})), with Marathon's
      defaults, assigned service ports and task counts.
    - In check mode, the app as read (or null when it would be created).
    - Null when the app is absent.
  returned: always
  type: dict
  sample: {id: /prod/web, cmd: "python3 -m http.server $PORT0", instances: 3, cpus: 0.25, mem: 128,
           version: "2026-12-07T10:00:00.000Z", tasksRunning: 3, tasksHealthy: 3, deployments: []}
app_id:
  description: The app's id.
  returned: always
  type: str
  sample: /prod/web
deployment_id:
  description: The deployment the change started; null when nothing was sent.
  returned: always
  type: str
  sample: 5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43
differences:
  description:
    - JSON paths of the definition where Marathon's app differed (empty when unchanged).
    - V([/]) for an app that is created or removed.
  returned: always
  type: list
  elements: str
  sample: [/instances, /healthChecks/0/path]
api_calls:
  description: HTTP requests the module made (an unchanged app - 1).
  returned: always
  type: int
  sample: 1
waited:
  description: Seconds spent waiting for the deployment (null without a wait).
  returned: always
  type: float
  sample: 4.52
url:
  description: The Marathon URL that answered last.
  returned: always
  type: str
  sample: http://marathon1:8080
"""

import json
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.orchestrator.platform.plugins.module_utils._marathon import (
    MarathonClient,
    MarathonError,
    app_differences,
    check_params,
    comparable,
    describe_deployment,
    expected_app,
    marathon_argument_spec,
    marathon_required_together,
    validate_app,
    validate_strategy,
    wait_for_deployments,
)

STRATEGY_KEYS = {"minimum_health_capacity": "minimumHealthCapacity", "maximum_over_capacity": "maximumOverCapacity"}


def load_yaml(path: str, text: str, not_json: ValueError) -> object:
    """An app_file that is not JSON, read as YAML.

    PyYAML is imported here, not with the module: importing it costs every run about 15 ms
    (and more on a busy host), and only a YAML app_file needs it.
    """
    try:
        import yaml  # noqa: PLC0415 - only for a YAML app_file
    except ImportError:
        raise MarathonError(
            f"app_file: {path} is not JSON, and reading YAML needs PyYAML where the module runs"
        ) from not_json
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MarathonError(f"app_file: {path} is neither JSON nor YAML: {exc}") from exc


def load_definition(params: dict) -> dict | None:
    """The user's definition (from app or app_file), with instances and upgrade_strategy applied."""
    app = params.get("app")
    if params.get("app_file"):
        try:
            with open(params["app_file"], encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise MarathonError(f"app_file: cannot read {params['app_file']}: {exc}") from exc
        try:
            app = json.loads(text)
        except ValueError as not_json:
            app = load_yaml(params["app_file"], text, not_json)
    if app is None:
        return None
    if not isinstance(app, dict):
        raise MarathonError(f"the app definition must be a mapping, got {type(app).__name__}")
    return dict(app)


def build(params: dict) -> tuple[str, dict | None, dict]:
    """(app id, full definition or None, fields to set); every input problem raised before any request."""
    definition = load_definition(params)
    errors: list[str] = []
    overrides: dict = {}
    if params.get("instances") is not None:
        overrides["instances"] = params["instances"]
    strategy = params.get("upgrade_strategy")
    if strategy:
        strategy_errors = validate_strategy(strategy)
        errors += strategy_errors
        chosen = {STRATEGY_KEYS[k]: v for k, v in strategy.items() if v is not None}
        if chosen and not strategy_errors:
            base = dict((definition or {}).get("upgradeStrategy") or {})
            overrides["upgradeStrategy"] = {**base, **chosen}
    app_id = params.get("app_id")
    if definition is not None:
        if app_id is not None and definition.get("id") is not None and definition["id"] != app_id:
            errors.append(f"app_id {app_id!r} and the definition's id {definition['id']!r} differ")
        if definition.get("id") is None and app_id is not None:
            definition["id"] = app_id
        definition.update(overrides)
        errors += validate_app(definition)
        app_id = definition.get("id")
    elif app_id is None:
        errors.append("give the app definition (app or app_file) or app_id")
    else:
        errors += validate_app({"id": app_id, **overrides})
    if errors:
        raise MarathonError("invalid input, nothing was sent: " + "; ".join(errors), details=errors)
    return str(app_id), definition, overrides


def locked(client: MarathonClient, exc: MarathonError, app_id: str) -> MarathonError:
    """The 409's deployments named with their current steps."""
    ids = [d.get("id") for d in exc.deployments or [] if isinstance(d, dict)]
    try:
        running = {d.get("id"): d for d in client.deployments()}
    except MarathonError:
        running = {}
    named = ", ".join(f"{i} ({describe_deployment(running.get(i))})" for i in ids) or "unknown"
    return MarathonError(
        f"app {app_id} is locked by deployment(s) {named}; wait for them (lock_timeout), or force=true to cancel them",
        status=409,
        url=exc.url,
        body=exc.body,
        deployments=exc.deployments,
    )


def write(client: MarathonClient, params: dict, app_id: str, action):
    """Run a deploying write; on a 409 lock, wait up to lock_timeout for the locking deployments once."""
    try:
        return action()
    except MarathonError as exc:
        if exc.status != 409 or exc.deployments is None:
            raise
        if params["lock_timeout"] <= 0:
            raise locked(client, exc, app_id) from exc
        ids = [d.get("id") for d in exc.deployments if isinstance(d, dict)]
        try:
            wait_for_deployments(client, ids, params["lock_timeout"], params["poll_interval"], app_id)
        except MarathonError as waited:
            raise MarathonError(
                f"app {app_id} stayed locked: {waited.msg}", status=409, deployments=waited.deployments
            ) from exc
        return action()


def diff_view(before: dict | None, after: dict | None) -> dict:
    return {"before": comparable(before) or {}, "after": comparable(after) or {}}


def after_view(current: dict | None, definition: dict | None, overrides: dict, replace: bool) -> dict:
    """The definition Marathon would hold after the update, for the diff."""
    return expected_app(definition if definition is not None else overrides, current, replace)


def ensure_absent(module: AnsibleModule, client: MarathonClient, app_id: str, current: dict | None, result: dict):
    """DELETE the app if Marathon has it; the deployment started, or None."""
    if current is None:
        return None
    result.update(changed=True, differences=["/"])
    if module._diff:
        result["diff"] = diff_view(current, None)
    if module.check_mode:
        return None
    return write(client, module.params, app_id, lambda: client.delete_app(app_id, module.params["force"]))


def ensure_present(
    module: AnsibleModule,
    client: MarathonClient,
    built: tuple[str, dict | None, dict],
    current: dict | None,
    result: dict,
):
    """Create or update the app, then restart it for state=restarted; the last deployment, or None."""
    params = module.params
    app_id, definition, overrides = built
    replace = params["update_mode"] == "replace" and definition is not None
    restart_needed = params["state"] == "restarted"
    if current is None:
        if definition is None:
            raise MarathonError(f"app {app_id} does not exist; give its definition (app or app_file) to create it")
        body = dict(definition)
        result.update(changed=True, differences=["/"])
        restart_needed = False  # a new app starts its tasks
    else:
        body = dict(definition) if definition is not None else dict(overrides)
        result["differences"] = app_differences(body, current, replace)
        result["changed"] = bool(result["differences"])
        if result["changed"] and result["differences"] != ["/instances"]:
            restart_needed = False  # a new version replaces every task already
    if result["changed"] and module._diff:
        result["diff"] = diff_view(current, after_view(current, definition, overrides, replace))
    deployment = None
    if result["changed"] and not module.check_mode:
        body.pop("version", None)
        body.pop("versionInfo", None)
        deployment = write(
            client, params, app_id, lambda: client.put_app(app_id, body, partial=not replace, force=params["force"])
        )
    if restart_needed:
        result["changed"] = True
        if not module.check_mode:
            if deployment is not None:  # a scale first: the restart would be locked by it
                wait_for_deployments(
                    client, [deployment["deploymentId"]], params["wait_timeout"], params["poll_interval"], app_id
                )
            deployment = write(client, params, app_id, lambda: client.restart_app(app_id, params["force"]))
    return deployment


def run(module: AnsibleModule, client: MarathonClient) -> dict:
    params = module.params
    built = build(params)
    app_id = built[0]
    result: dict = {"changed": False, "app_id": app_id, "deployment_id": None, "differences": [], "waited": None}
    current = client.get_app(app_id)
    if params["state"] == "absent":
        deployment = ensure_absent(module, client, app_id, current, result)
    else:
        deployment = ensure_present(module, client, built, current, result)
    result["app"] = current
    if deployment is not None:
        result["deployment_id"] = deployment["deploymentId"]
        if params["wait"] and deployment["deploymentId"]:
            result["waited"] = wait_for_deployments(
                client, [deployment["deploymentId"]], params["wait_timeout"], params["poll_interval"], app_id
            )["waited"]
        result["app"] = None if params["state"] == "absent" else client.get_app(app_id)
    return result


def main() -> None:
    spec = marathon_argument_spec()
    spec.update(
        app={"type": "dict"},
        app_file={"type": "path"},
        app_id={"type": "str"},
        state={"type": "str", "choices": ["present", "absent", "restarted"], "default": "present"},
        instances={"type": "int"},
        upgrade_strategy={
            "type": "dict",
            "options": {
                "minimum_health_capacity": {"type": "float"},
                "maximum_over_capacity": {"type": "float"},
            },
        },
        update_mode={"type": "str", "choices": ["replace", "merge"], "default": "replace"},
        force={"type": "bool", "default": False},
        wait={"type": "bool", "default": True},
        wait_timeout={"type": "float", "default": 300.0},
        lock_timeout={"type": "float", "default": 0.0},
        poll_interval={"type": "float", "default": 0.5},
    )
    module = AnsibleModule(
        argument_spec=spec,
        supports_check_mode=True,
        required_together=marathon_required_together(),
        mutually_exclusive=[["app", "app_file"]],
        required_one_of=[["app", "app_file", "app_id"]],
    )
    client = None
    try:
        bases = check_params(module.params)
        for name in ("wait_timeout", "lock_timeout"):
            if module.params[name] < 0:
                raise MarathonError(f"{name}: must not be negative")
        if module.params["poll_interval"] <= 0:
            raise MarathonError("poll_interval: must be more than 0 seconds")
        client = MarathonClient(module.params, bases)
        result = run(module, client)
        result.update(api_calls=client.calls, url=client.answered)
    except MarathonError as exc:
        module.fail_json(
            msg=exc.msg,
            exception=traceback.format_exc(),
            api_calls=client.calls if client else 0,
            **exc.result(),
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
