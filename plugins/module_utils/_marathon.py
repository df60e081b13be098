# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Marathon (v2 REST API) for the collection's modules: client, app checks, comparison.

* :class:`MarathonClient` on the shared ``_http`` client: every request goes to the given
  Marathon URLs in order until one answers (any instance serves: a standby proxies to the
  leader; 502/503 from an instance without a leader passes on to the next URL); redirects
  are followed; statuses become results or a :class:`MarathonError` in :func:`check_status`
  (422/400 with Marathon's ``details`` paths, 409 with the locking deployments).
* :func:`validate_app`: the user's app definition against Marathon's AppDefinition schema
  (``_marathon_schema``, generated from the schema file), because Marathon itself silently
  ignores unknown fields; plus the rules the schema cannot say (id with a leading slash,
  ``upgradeStrategy`` values in [0, 1], not both ``cmd`` and ``args``).
* :func:`app_differences`: the fields the user gave compared with ``GET /v2/apps/{id}``,
  ignoring server-filled fields (version, task counts, deployments, ...), defaults Marathon
  fills in, and service ports Marathon assigned where the user asked for port 0.
"""

from __future__ import annotations

import re
import time
from urllib.parse import quote, urlencode

from ansible_collections.orchestrator.platform.plugins.module_utils._http import (
    HttpClient,
    HttpError,
    Response,
    base_url,
)
from ansible_collections.orchestrator.platform.plugins.module_utils._marathon_schema import (
    APP_SCHEMA,
    RAML_ONLY_FIELDS,
)

DEFAULT_PORT = 8080
# Statuses after which the next URL is asked: Marathon without a leader answers 502 on a
# standby (its proxy) and 503 while it starts; a gateway in front may give 504.
NEXT_URL_STATUSES = (502, 503, 504)

# Fields of GET /v2/apps/{id} that Marathon computes or fills: never compared.
SERVER_FIELDS = frozenset(
    {
        "version",
        "versionInfo",
        "tasksStaged",
        "tasksRunning",
        "tasksHealthy",
        "tasksUnhealthy",
        "deployments",
        "tasks",
        "lastTaskFailure",
        "readinessCheckResults",
        "taskStats",
        "tasksStats",
    }
)

# What Marathon (1.10) puts into a field the definition leaves out (app.raml defaults, AppDefinition
# and AppNormalization). A field the user leaves out of the definition is a change only when
# Marathon holds something else there: a replacing update (partialUpdate=false) resets it.
# Fields not listed here (portDefinitions, networks, role, unreachableStrategy, ...) are filled
# by Marathon from its own configuration; they are compared only when the user gives them.
EMPTY = object()  # null, [], {} and "" are all "nothing" for these fields
TOP_DEFAULTS: dict[str, object] = {
    "instances": 1,
    "cpus": 1,
    "mem": 128,
    "disk": 0,
    "gpus": 0,
    "backoffSeconds": 1,
    "backoffFactor": 1.15,
    "maxLaunchDelaySeconds": (300, 3600),  # 300 since 1.5 (app.raml); 3600 before
    "executor": EMPTY,
    "requirePorts": False,
    "killSelection": "YOUNGEST_FIRST",
    "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
    "cmd": EMPTY,
    "args": EMPTY,
    "user": EMPTY,
    "env": EMPTY,
    "labels": EMPTY,
    "constraints": EMPTY,
    "healthChecks": EMPTY,
    "readinessChecks": EMPTY,
    "dependencies": EMPTY,
    "fetch": EMPTY,
    "uris": EMPTY,
    "storeUrls": EMPTY,
    "secrets": EMPTY,
    "container": EMPTY,
    "acceptedResourceRoles": (EMPTY, ["*"]),
    "taskKillGracePeriodSeconds": EMPTY,
    "networks": (EMPTY, [{"mode": "host"}]),
}
# Defaults inside list items and objects, by path (list indexes as []).
NESTED_DEFAULTS: dict[str, dict[str, object]] = {
    # healthCheck.raml / AppDefinition
    "healthChecks[]": {
        "gracePeriodSeconds": 300,
        "intervalSeconds": 60,
        "timeoutSeconds": 20,
        "maxConsecutiveFailures": 3,
        "delaySeconds": 15,
        "ignoreHttp1xx": False,
        "ipProtocol": "IPv4",
    },
    "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
    "portDefinitions[]": {"protocol": "tcp", "labels": EMPTY},
    "container.portMappings[]": {"protocol": "tcp", "labels": EMPTY, "hostPort": 0},
    "container.docker.portMappings[]": {"protocol": "tcp", "labels": EMPTY, "hostPort": 0},
    "container.docker": {"forcePullImage": False, "privileged": False, "parameters": EMPTY},
    "container": {"volumes": EMPTY},
    "fetch[]": {"executable": False, "extract": True, "cache": False},
}
# Where 0 asks Marathon to pick the value (a service port), whatever it picked is not a change.
ASSIGNED_WHEN_ZERO = frozenset(
    {
        "portDefinitions[].port",
        "container.portMappings[].servicePort",
        "container.docker.portMappings[].servicePort",
        "ports[]",
    }
)
# Objects whose keys are the user's (maps): compared exactly, server keys are not defaults.
MAP_FIELDS = frozenset({"env", "labels", "secrets", "portDefinitions[].labels", "container.portMappings[].labels"})


class MarathonError(HttpError):
    """A failed request or a refused operation, with what Marathon said."""

    def __init__(
        self,
        msg: str,
        status: int | None = None,
        url: str | None = None,
        body: str | None = None,
        *,
        details: list | None = None,
        deployments: list | None = None,
    ):
        super().__init__(msg, status=status, url=url, body=body)
        self.details = details
        self.deployments = deployments

    def result(self) -> dict:
        out: dict = {"status": self.status, "url": self.url, "marathon_message": self.body}
        if self.details is not None:
            out["details"] = self.details
        if self.deployments is not None:
            out["deployments"] = self.deployments
        return out


# ---------------------------------------------------------------------------------------------
# Module parameters
# ---------------------------------------------------------------------------------------------


def marathon_argument_spec() -> dict:
    """The connection options, documented by the ``orchestrator.platform.marathon`` doc fragment."""
    return {
        "urls": {"type": "list", "elements": "str", "required": True},
        "url_username": {"type": "str", "aliases": ["username"]},
        "url_password": {"type": "str", "no_log": True, "aliases": ["password"]},
        "validate_certs": {"type": "bool", "default": True},
        "ca_path": {"type": "path"},
        "client_cert": {"type": "path"},
        "client_key": {"type": "path", "no_log": False},
        "timeout": {"type": "float", "default": 10.0},
        "retries": {"type": "int", "default": 3},
        "retry_delay": {"type": "float", "default": 1.0},
    }


def marathon_required_together() -> list[list[str]]:
    return [["url_username", "url_password"], ["client_cert", "client_key"]]


def check_params(params: dict) -> list[str]:
    """Checks the argument spec cannot express; the base URLs. Raises MarathonError."""
    if params["timeout"] <= 0:
        raise MarathonError("timeout: must be more than 0 seconds")
    if params["retries"] < 0:
        raise MarathonError("retries: must be 0 or more")
    if params["retry_delay"] < 0:
        raise MarathonError("retry_delay: must be 0 or more seconds")
    urls = [base_url(u, "http", DEFAULT_PORT, MarathonError) for u in params.get("urls") or []]
    if not urls:
        raise MarathonError("urls: give at least one Marathon URL (http://host:8080) or host:port")
    return list(dict.fromkeys(urls))


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------

_STATUS_EXPLANATIONS = {
    400: "Marathon could not read the request",
    401: "authentication required or refused: check url_username/url_password (--http_credentials)",
    403: "not authorized for this request",
    404: "not found",
    409: "conflict",
    422: "Marathon refused the definition",
    500: "Marathon failed to handle the request",
    502: "no Marathon leader (a standby could not proxy the request)",
    503: "Marathon is not ready (no leader or still starting)",
}


def format_details(details: list) -> str:
    """``[{path, errors}]`` -> ``"/path: error; /other: error"``."""
    parts = []
    for d in details:
        if isinstance(d, dict):
            errors = d.get("errors") or ([d["message"]] if d.get("message") else [])
            parts.append(f"{d.get('path') or '/'}: {', '.join(str(e) for e in errors)}")
    return "; ".join(parts)


def check_status(response: Response, expected: tuple[int, ...] = (200,)) -> Response:
    """The single place where a Marathon HTTP status becomes a result or a MarathonError."""
    if response.status in expected:
        return response
    text = response.text.strip()
    try:
        payload = response.json() if text.startswith("{") else {}
    except HttpError:
        payload = {}
    message = payload.get("message") if isinstance(payload, dict) else None
    details = payload.get("details") if isinstance(payload, dict) else None
    deployments = payload.get("deployments") if isinstance(payload, dict) else None
    explanation = _STATUS_EXPLANATIONS.get(response.status, "unexpected answer")
    msg = f"{explanation} ({response.status} from {response.url})"
    if message:
        msg += f": {message}"
    elif text:
        msg += f": {text[:500]}"
    if isinstance(details, list) and details:
        msg += f" [{format_details(details)}]"
    raise MarathonError(
        msg,
        status=response.status,
        url=response.url,
        body=text[:2000] or None,
        details=details if isinstance(details, list) else None,
        deployments=deployments if isinstance(deployments, list) else None,
    )


def app_path(app_id: str) -> str:
    return "/v2/apps" + quote(app_id, safe="/")


class MarathonClient(HttpClient):
    """Requests to Marathon with the module's connection options; ``calls`` counts them."""

    error = MarathonError

    def __init__(self, params: dict, bases: list[str], sleep=time.sleep, opener=None, clock=time.monotonic):
        super().__init__(params, sleep=sleep, opener=opener)
        self.bases = bases
        self.retries = int(params.get("retries") or 0)
        self.retry_delay = float(params.get("retry_delay") or 0.0)
        self.clock = clock
        self.answered: str | None = None  # the base URL that answered last

    def request(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        query: dict | list | None = None,
        expected: tuple[int, ...] = (200,),
        retry: bool = True,
    ) -> Response:
        """``method path`` on the first URL that answers; all URLs again ``retries`` times.

        Only failures where no Marathon handled the request are retried: no HTTP answer at all
        or 502/503/504 (no leader). The final status goes through :func:`check_status`.
        """
        if query:
            path += "?" + urlencode(query)
        attempts = 1 + (self.retries if retry else 0)
        last: HttpError | None = None
        for attempt in range(attempts):
            if attempt:
                self.sleep(self.retry_delay)
            try:
                base, response = self.first_answer(method, self.bases, path, body, skip_statuses=NEXT_URL_STATUSES)
            except MarathonError as exc:
                if exc.status is None or exc.status in NEXT_URL_STATUSES:
                    last = exc
                    continue
                raise
            self.answered = base
            return check_status(response, expected)
        if last is None:  # pragma: no cover - the loop ran at least once
            raise MarathonError(f"{method} {path}: no attempt made")
        raise last

    def get_json(self, path: str, query: dict | list | None = None, expected: tuple[int, ...] = (200,)):
        return self.request("GET", path, query=query, expected=expected).json()

    # --- apps ------------------------------------------------------------------------------

    def get_app(self, app_id: str, embed: tuple[str, ...] = ()) -> dict | None:
        """``GET /v2/apps/{id}``'s app, or None when Marathon does not know it (404)."""
        query = [("embed", e) for e in embed]
        response = self.request("GET", app_path(app_id), query=query, expected=(200, 404))
        if response.status == 404:
            return None
        app = response.json().get("app")
        if not isinstance(app, dict):
            raise MarathonError(f"GET {app_path(app_id)} answered without an app: {response.text[:200]}")
        return app

    def put_app(self, app_id: str, body: dict, partial: bool, force: bool) -> dict:
        """``PUT /v2/apps/{id}`` (creates or updates): ``{deploymentId, version, created}``."""
        query = {"partialUpdate": "true" if partial else "false"}
        if force:
            query["force"] = "true"
        response = self.request("PUT", app_path(app_id), body=body, query=query, expected=(200, 201), retry=False)
        return deployment_result(response)

    def delete_app(self, app_id: str, force: bool) -> dict:
        # DELETE defaults to force=true upstream (AppsResource.delete): say false unless asked.
        query = {"force": "true" if force else "false"}
        response = self.request("DELETE", app_path(app_id), query=query, expected=(200, 202), retry=False)
        return deployment_result(response)

    def restart_app(self, app_id: str, force: bool) -> dict:
        query = {"force": "true"} if force else None
        response = self.request("POST", app_path(app_id) + "/restart", query=query, retry=False)
        return deployment_result(response)

    def deployments(self) -> list[dict]:
        out = self.get_json("/v2/deployments")
        return [d for d in out if isinstance(d, dict)] if isinstance(out, list) else []


def deployment_result(response: Response) -> dict:
    """``{deploymentId, version}`` from a deploying answer (body, else the header)."""
    body = response.json() if response.body.strip() else {}
    body = body if isinstance(body, dict) else {}
    dep = body.get("deploymentId") or response.headers.get("marathon-deployment-id")
    if not dep and isinstance(body.get("deployments"), list) and body["deployments"]:
        dep = body["deployments"][0].get("id")  # POST /v2/apps answers the app
    return {"deploymentId": dep, "version": body.get("version"), "created": response.status == 201}


# ---------------------------------------------------------------------------------------------
# Deployments
# ---------------------------------------------------------------------------------------------


def describe_deployment(dep: dict | None) -> str:
    """``step 1/2 (ScaleApplication /foo)`` from a /v2/deployments entry."""
    if not dep:
        return "unknown step"
    actions = ", ".join(
        f"{a.get('action')} {a.get('app') or a.get('pod') or ''}".strip()
        for a in dep.get("currentActions") or []
        if isinstance(a, dict)
    )
    text = f"step {dep.get('currentStep', '?')}/{dep.get('totalSteps', '?')}"
    return f"{text} ({actions})" if actions else text


def task_counts(app: dict | None) -> dict:
    keys = ("instances", "tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy")
    return {k: (app or {}).get(k) for k in keys}


def wait_for_deployments(
    client: MarathonClient, ids: list[str | None], timeout: float, interval: float, app_id: str | None = None
) -> dict:
    """Poll ``/v2/deployments`` until none of ``ids`` is listed (Marathon's "finished").

    Returns ``{"waited": seconds}``; raises MarathonError on timeout naming each deployment's
    current step and the app's task counts.
    """
    ids = [i for i in ids if i]
    start = client.clock()
    deadline = start + timeout
    while True:
        running = [d for d in client.deployments() if d.get("id") in ids]
        if not running:
            return {"waited": round(client.clock() - start, 3)}
        now = client.clock()
        if now >= deadline:
            app = None
            if app_id:
                try:
                    app = client.get_app(app_id)
                except MarathonError:
                    app = None
            counts = task_counts(app)
            steps = "; ".join(f"{d.get('id')} at {describe_deployment(d)}" for d in running)
            count_text = ", ".join(f"{k} {v}" for k, v in counts.items() if v is not None)
            raise MarathonError(
                f"deployment not finished after {timeout:g}s: {steps}"
                + (f"; app {app_id}: {count_text}" if count_text else ""),
                deployments=running,
                details=[{"path": app_id or "/", "errors": [count_text]}] if count_text else None,
            )
        client.sleep(min(interval, max(deadline - now, 0.0)))


# ---------------------------------------------------------------------------------------------
# App definitions: schema check
# ---------------------------------------------------------------------------------------------

_TYPE_NAMES = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
}


_TYPE_CHECKS = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}


def _type_ok(value: object, kind: str) -> bool:
    check = _TYPE_CHECKS.get(kind)
    return check(value) if check else True


def _join(path: str, key: object) -> str:
    return f"{path}/{key}"


def schema_errors(value: object, schema: dict, path: str = "") -> list[str]:
    """JSON-schema checks of the subset AppDefinition.json uses; messages name the path."""
    where = path or "/"
    kind = schema.get("type")
    if isinstance(kind, str) and not _type_ok(value, kind):
        hint = ""
        if kind in ("integer", "number") and isinstance(value, str):
            hint = " (a templated number is a string in Ansible: add | int or | float)"
        return [f"{where}: expected {_TYPE_NAMES.get(kind, kind)}, got {type(value).__name__} {value!r}{hint}"]
    errors = _scalar_errors(value, schema, where)
    if isinstance(value, dict):
        errors += _object_errors(value, schema, path)
    if isinstance(value, list):
        errors += _array_errors(value, schema, path)
    return errors + _combinator_errors(value, schema, path)


def _scalar_errors(value: object, schema: dict, where: str) -> list[str]:
    errors = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} is not one of {', '.join(map(str, schema['enum']))}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: {value} is less than {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: {value} is greater than {schema['maximum']}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(f"{where}: {value!r} is shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{where}: {value!r} is longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
    return errors


def _combinator_errors(value: object, schema: dict, path: str) -> list[str]:
    errors = []
    where = path or "/"
    if "oneOf" in schema:
        matching = [s for s in schema["oneOf"] if not schema_errors(value, s, path)]
        if len(matching) != 1:
            options = " or ".join(_describe(s) for s in schema["oneOf"])
            errors.append(f"{where}: {value!r} is not {options}")
    banned = schema.get("not", {}).get("allOf")
    if banned and all(not schema_errors(value, s, path) for s in banned):
        names = ", ".join(r for s in banned for r in s.get("required", []))
        errors.append(f"{where}: give only one of {names}, not both")
    return errors


def _describe(schema: dict) -> str:
    if "enum" in schema:
        return " or ".join(repr(v) for v in schema["enum"])
    return _TYPE_NAMES.get(schema.get("type", ""), "valid")


def _object_errors(value: dict, schema: dict, path: str) -> list[str]:
    errors = []
    props = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    extra = schema.get("additionalProperties", True)
    for name in schema.get("required", []):
        if name not in value:
            errors.append(f"{_join(path, name)}: required")
    for key, sub in value.items():
        where = _join(path, key)
        if key in props:
            errors += schema_errors(sub, props[key], where)
            continue
        matched = [p for p in patterns if re.search(p, str(key))]
        for p in matched:
            errors += schema_errors(sub, patterns[p], where)
        if matched:
            continue
        if extra is False:
            known = ", ".join(sorted(props))
            close = [k for k in props if k.lower().startswith(str(key).lower()[:4])]
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            errors.append(f"{where}: unknown field {key!r} (Marathon would silently ignore it{hint}); known: {known}")
        elif isinstance(extra, dict):
            errors += schema_errors(sub, extra, where)
    return errors


def _array_errors(value: list, schema: dict, path: str) -> list[str]:
    errors = []
    where = path or "/"
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.append(f"{where}: needs at least {schema['minItems']} items, has {len(value)}")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(f"{where}: at most {schema['maxItems']} items, has {len(value)}")
    items = schema.get("items")
    if isinstance(items, list):
        for i, sub in enumerate(value):
            if i < len(items):
                errors += schema_errors(sub, items[i], _join(path, i))
            elif schema.get("additionalItems") is False:
                errors.append(f"{_join(path, i)}: at most {len(items)} items")
    elif isinstance(items, dict):
        for i, sub in enumerate(value):
            errors += schema_errors(sub, items, _join(path, i))
    return errors


def app_schema() -> dict:
    """AppDefinition.json's checks plus the top-level fields only app.raml (1.8-1.10) has."""
    schema = dict(APP_SCHEMA)
    schema["properties"] = {**APP_SCHEMA["properties"], **RAML_ONLY_FIELDS}
    return schema


def validate_app(app: dict) -> list[str]:
    """Every problem with a user's app definition, each naming its field; [] when fine."""
    if not isinstance(app, dict):
        return [f"the app definition must be a dict, got {type(app).__name__}"]
    errors = schema_errors(app, app_schema())
    app_id = app.get("id")
    if isinstance(app_id, str) and not app_id.startswith("/"):
        errors.append(f"/id: {app_id!r} must be absolute (start with /); Marathon would quietly make it /{app_id}")
    if isinstance(app_id, str) and ((app_id.endswith("/") and app_id != "/") or "//" in app_id):
        errors.append(f"/id: {app_id!r} has an empty segment")
    if app_id == "/":
        errors.append("/id: '/' is the root group, not an app")
    strategy = app.get("upgradeStrategy")
    if isinstance(strategy, dict):
        for key in ("minimumHealthCapacity", "maximumOverCapacity"):
            value = strategy.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and not 0 <= value <= 1:
                msg = f"/upgradeStrategy/{key}: {value} is outside [0, 1]"
                if not any(e.startswith(f"/upgradeStrategy/{key}:") for e in errors):
                    errors.append(msg)
    return errors


def validate_strategy(strategy: dict | None) -> list[str]:
    """The ``upgrade_strategy`` option's values, both in [0, 1]."""
    errors = []
    for key, value in (strategy or {}).items():
        if value is None:
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            errors.append(f"upgrade_strategy.{key}: {value!r} is not a number")
        elif not 0 <= value <= 1:
            errors.append(f"upgrade_strategy.{key}: {value} is outside [0, 1]")
    return errors


# ---------------------------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------------------------


def _is_empty(value: object) -> bool:
    return value is None or value in ([], {}, "")


def _same_scalar(want: object, have: object) -> bool:
    if isinstance(want, bool) or isinstance(have, bool):
        return isinstance(want, bool) and isinstance(have, bool) and want == have
    if isinstance(want, (int, float)) and isinstance(have, (int, float)):
        return float(want) == float(have)
    return want == have


def _matches_default(have: object, default: object) -> bool:
    if default is EMPTY:
        return _is_empty(have)
    if isinstance(default, tuple):
        return any(_matches_default(have, d) for d in default)
    if isinstance(default, dict):
        if _is_empty(have):
            return True
        if not isinstance(have, dict):
            return False
        return all(_matches_default(have.get(k, v), v) for k, v in default.items()) and set(have) <= set(default)
    return have is None or _same_scalar(default, have)


def differences(want: object, have: object, path: str = "", key_path: str = "") -> list[str]:
    """Where ``have`` (Marathon's) differs from ``want`` (the user's), as ``/json/paths``.

    Dict keys the user gave are compared; keys only Marathon has count when they are known
    defaults that differ (``NESTED_DEFAULTS``) or the object is a user map (``MAP_FIELDS``).
    Lists are compared item by item. A 0 where Marathon assigns a port matches any port.
    """
    where = path or "/"
    if key_path in ASSIGNED_WHEN_ZERO and want == 0 and isinstance(have, int):
        return []
    if isinstance(want, dict):
        return _dict_differences(want, have, path, key_path)
    if isinstance(want, list):
        return _list_differences(want, have, path, key_path)
    if want is None:
        return [] if _is_empty(have) else [where]
    return [] if _same_scalar(want, have) else [where]


def _list_differences(want: list, have: object, path: str, key_path: str) -> list[str]:
    if not isinstance(have, list):
        return [] if not want and _is_empty(have) else [path or "/"]
    if len(want) != len(have):
        return [path or "/"]
    out = []
    for i, (w, h) in enumerate(zip(want, have, strict=True)):
        out += differences(w, h, f"{path}/{i}", f"{key_path}[]")
    return out


def _dict_differences(want: dict, have: object, path: str, key_path: str) -> list[str]:
    if not isinstance(have, dict):
        return [] if not want and _is_empty(have) else [path or "/"]
    out = []
    defaults = NESTED_DEFAULTS.get(key_path, {})
    for key, value in want.items():
        if key not in have:
            if not (_is_empty(value) or (key in defaults and _matches_default(value, defaults[key]))):
                out.append(f"{path}/{key}")
            continue
        out += differences(value, have[key], f"{path}/{key}", f"{key_path}.{key}" if key_path else key)
    if key_path in MAP_FIELDS:
        out += [f"{path}/{k}" for k in have if k not in want]
    else:
        out += [f"{path}/{k}" for k, d in defaults.items() if k not in want and not _matches_default(have.get(k), d)]
    return out


def app_differences(want: dict, have: dict, replace: bool) -> list[str]:
    """Fields where Marathon's app differs from the user's definition (top-level and nested).

    ``replace``: the update would replace the definition (partialUpdate=false), so a field the
    user left out but Marathon holds with a value other than its default is a difference too.
    """
    wanted = {k: v for k, v in want.items() if k not in SERVER_FIELDS}
    out = []
    for key, value in wanted.items():
        if key == "id":
            continue
        if key not in have:
            default = TOP_DEFAULTS.get(key)
            if _is_empty(value) or (default is not None and _matches_default(value, default)):
                continue
            out.append(f"/{key}")
            continue
        out += differences(value, have[key], f"/{key}", key)
    if replace:
        for key, default in TOP_DEFAULTS.items():
            if key not in wanted and key in have and not _matches_default(have[key], default):
                out.append(f"/{key}")
    return out


def comparable(app: dict | None) -> dict | None:
    """An app without the fields Marathon computes (for diffs and results)."""
    if app is None:
        return None
    return {k: v for k, v in app.items() if k not in SERVER_FIELDS}


def merged(want: object, have: object, key_path: str = "") -> object:
    """``have`` (Marathon's) with ``want`` (the user's) laid over it, for a readable diff.

    What the user gives wins; what only Marathon holds (defaults it filled, ports it assigned
    where the user said 0) stays, so the diff shows the change and not Marathon's defaults.
    """
    if key_path in ASSIGNED_WHEN_ZERO and want == 0 and isinstance(have, int):
        return have
    if isinstance(want, dict) and isinstance(have, dict) and key_path not in MAP_FIELDS:
        out = dict(have)
        for key, value in want.items():
            out[key] = merged(value, have.get(key), f"{key_path}.{key}" if key_path else key)
        return out
    if isinstance(want, list) and isinstance(have, list) and len(want) == len(have):
        return [merged(w, h, f"{key_path}[]") for w, h in zip(want, have, strict=True)]
    return want


def expected_app(want: dict, have: dict | None, replace: bool) -> dict:
    """The definition Marathon would hold after the update (without server fields), for diffs."""
    base = comparable(have) or {}
    out = merged(comparable(want) or {}, base)
    if not isinstance(out, dict):  # pragma: no cover - merged() of two dicts is a dict
        return dict(want)
    if replace:
        # Fields left out go back to Marathon's defaults.
        for key, default in TOP_DEFAULTS.items():
            if key not in want and key in base and not _matches_default(base[key], default):
                plain = default[0] if isinstance(default, tuple) else default
                out[key] = None if plain is EMPTY else plain
    return out


def normalize_id(app_id: str) -> str:
    return app_id if app_id.startswith("/") else "/" + app_id
