# ruff: noqa: PLR0911 - one return per answer of the resources
"""The REST API of the Marathon PROTOCOL DOUBLE: /v2 apps, tasks, deployments, queue, leader,
info, events, /ping and /metrics.

Upstream (mesosphere/marathon v1.10.26): api/v2/AppsResource.scala (index with
counts+deployments embedded; show ``{"app": ...}`` with counts, tasks, lastTaskFailure and
deployments; create: 201, the app with ``deployments: [{id}]``, ``Location`` and
``Marathon-Deployment-Id``, 409 "An app with id [/x] already exists."; replace: PUT with
``partialUpdate`` true by default, 201 or 200 with ``{version, deploymentId}`` and
``Marathon-Deployment-Id`` (RestResource.deploymentResult); patch: partial, no creation;
delete: ``force`` true by default; restart), AppTasksResource, TasksResource, QueueResource,
DeploymentsResource (GET, DELETE: 202 + deploymentResult of the rollback, 202 empty with
``force=true``, 404 "DeploymentPlan <id> does not exist"), LeaderResource ("There is no
leader" 404; DELETE: "Leadership abdicated", the latch closes 500 ms later), InfoResource and
docs/.../examples/info.json, SystemResource (``/ping``: "pong" text/plain, ``/metrics`` JSON
version 4.0.0, ``/metrics/prometheus``), MarathonExceptionMapper.scala (400 "Invalid JSON" for
unparsable bodies, 409 AppLockedException with ``deployments[].id``, 404 "App '/x' does not
exist"), core/event (api_post_event).
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from .apps import Invalid, JsonErrors, assign_service_ports, canonical_id, merge_update, normalize, read_app, validate
from .common import BUILDREF, EXIT_LEADERSHIP_ENDED_GRACEFULLY, MARATHON_VERSION, crash, timestamp
from .core import AppLocked, Core
from .flags import redacted_zk
from .scheduler import Instance
from .web import Request, Response

# Gauges registered with unit = UnitOfMeasurement.Time: their values are seconds.
TIME_GAUGES = frozenset({"uptime", "leadership.duration"})

LOCKED = (
    "App is locked by one or more deployments. Override with the option '?force=true'. "
    "View details at '/v2/deployments/<DEPLOYMENT_ID>'."
)


class Api:
    def __init__(self, flags: dict[str, Any], core: Core, host_port: str, abdicate: Callable[[], None]) -> None:
        self.flags = flags
        self.core = core
        self.host_port = host_port
        self.abdicate = abdicate
        self.started = time.time()

    # ---- JSON of apps and tasks --------------------------------------------------------------
    def app_info(self, app: dict, embed: set[str]) -> dict:
        core = self.core
        out = copy.deepcopy(app)
        insts = [i for i in core.app_instances(app["id"]) if i.alive]
        if "counts" in embed:
            out["tasksStaged"] = sum(1 for i in insts if i.state in ("TASK_STAGING", "TASK_STARTING"))
            out["tasksRunning"] = sum(1 for i in insts if i.state == "TASK_RUNNING")
            checks = bool(app.get("healthChecks"))
            out["tasksHealthy"] = sum(1 for i in insts if checks and i.healthy)
            out["tasksUnhealthy"] = sum(1 for i in insts if checks and i.healthy is False)
        if "deployments" in embed:
            out["deployments"] = [{"id": d.id} for d in core.deployments_of(app["id"])]
        if "tasks" in embed:
            out["tasks"] = [i.task_json(app) for i in insts]
        if "lastTaskFailure" in embed and app["id"] in core.last_failure:
            out["lastTaskFailure"] = core.last_failure[app["id"]]
        return out

    @staticmethod
    def _embeds(req: Request, base: set[str]) -> set[str]:
        # InfoEmbedResolver.resolveApp
        out = set(base)
        for value in req.params("embed"):
            name = value.split(".", 1)[-1]
            if name == "tasks":
                out |= {"tasks", "deployments"}
            elif name == "failures":
                out |= {"tasks", "lastTaskFailure", "deployments"}
            elif name in ("deployments", "lastTaskFailure", "counts"):
                out.add(name)
        return out

    # ---- routing -------------------------------------------------------------------------------
    def route(self, req: Request) -> Response:  # noqa: PLR0912 - one branch per resource
        path = req.path.rstrip("/") or "/"
        method = req.method
        if path == "/ping":
            return self.ping(req)
        if path == "/v2/info" and method == "GET":
            return Response.json(self.info())
        if path == "/v2/leader":
            return self.leader(req)
        if path == "/metrics":
            return Response.json(self.metrics())
        if path == "/metrics/prometheus":
            return Response(200, self.prometheus().encode(), "text/plain")
        if path == "/v2/apps":
            if method == "GET":
                return self.list_apps(req)
            if method == "POST":
                return self.create(req)
            return Response.message(405, "Method Not Allowed")
        if path.startswith("/v2/apps/"):
            rest = path[len("/v2/apps") :]
            if rest.endswith("/restart") and method == "POST":
                return self.restart(req, canonical_id(rest[: -len("/restart")]))
            if "/tasks/" in rest and method == "DELETE":
                app_part, _sep, task_id = rest.rpartition("/tasks/")
                return self.kill_one(req, canonical_id(app_part), task_id)
            if rest.endswith("/tasks"):
                return self.app_tasks(req, canonical_id(rest[: -len("/tasks")]))
            if rest.endswith("/versions") and method == "GET":
                return self.versions(canonical_id(rest[: -len("/versions")]))
            app_id = canonical_id(rest)
            if method == "GET":
                return self.show(req, app_id)
            if method in ("PUT", "PATCH"):
                return self.update(
                    req,
                    app_id,
                    partial=method == "PATCH" or req.flag("partialUpdate", True),
                    allow_create=method == "PUT",
                )
            if method == "DELETE":
                return self.delete(req, app_id)
            return Response.message(405, "Method Not Allowed")
        if path == "/v2/tasks" and method == "GET":
            return self.tasks(req)
        if path == "/v2/deployments" and method == "GET":
            with self.core.lock:
                return Response.json([d.to_json() for d in self.core.deployments])
        if path.startswith("/v2/deployments/") and method == "DELETE":
            return self.cancel(req, path.rsplit("/", 1)[-1])
        if path == "/v2/queue" and method == "GET":
            return Response.json(self.queue())
        # MarathonExceptionMapper: Jersey's NotFoundException (no route) is answered 500.
        return Response.json({"message": "URI not found"}, 500)

    @staticmethod
    def ping(req: Request) -> Response:
        # SystemResource.ping: text/plain first; "pong" as JSON for JSON-only clients; 204 otherwise.
        accept = [a.split(";")[0].strip() for a in (req.headers.get("Accept") or "*/*").split(",")]
        for media in accept:
            if media in ("*/*", "text/*", "text/plain"):
                return Response(200, b"pong", "text/plain")
            if media == "text/html":
                return Response(200, b"pong", "text/html")
            if media in ("application/json", "application/*"):
                return Response(200, b'"pong"', "application/json")
        return Response(204, b"")

    # ---- apps ----------------------------------------------------------------------------------
    def _body(self, req: Request) -> Any:
        try:
            return json.loads(req.body.decode("utf-8") or "null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadJson(str(exc)) from None

    def _guard(self, fn: Callable[[], Response]) -> Response:
        try:
            return fn()
        except BadJson as exc:
            return Response.json({"message": "Invalid JSON", "details": exc.args[0]}, 400)
        except JsonErrors as exc:
            return Response.json(exc.body(), 422)
        except Invalid as exc:
            return Response.json(exc.body(), 422)
        except AppLocked as exc:
            return Response.json({"message": LOCKED, "deployments": [{"id": i} for i in exc.ids]}, 409)

    def _finish(self, app: dict, version: str, scale_only: bool, previous: dict | None) -> dict:
        app["version"] = version
        if previous is None or not scale_only:
            app["versionInfo"] = {"lastScalingAt": version, "lastConfigChangeAt": version}
        else:
            app["versionInfo"] = {**previous["versionInfo"], "lastScalingAt": version}
        return app

    def _used_ports(self, except_id: str) -> set[int]:
        used: set[int] = set()
        for other in self.core.apps.values():
            if other["id"] != except_id:
                for spec in other.get("portDefinitions", []) + (other.get("container") or {}).get("portMappings", []):
                    used.add(int(spec.get("port") or spec.get("servicePort") or 0))
        return used

    def _prepare(self, raw: dict, app_id: str) -> dict:
        app = normalize(raw, app_id, self.flags["mesos_role"])
        validate(app)
        assign_service_ports(app, self._used_ports(app_id), self.flags["local_port_min"], self.flags["local_port_max"])
        return app

    def create(self, req: Request) -> Response:
        def run() -> Response:
            raw = read_app(self._body(req), require_id=True)
            app_id = canonical_id(raw["id"])
            with self.core.lock:
                app = self._prepare(raw, app_id)
                if app_id in self.core.apps:
                    return Response.message(409, f"An app with id [{app_id}] already exists.")
                self._finish(app, timestamp(), False, None)
                plan = self.core.deploy(None, app, req.flag("force", False))
                self._post_event(req, app)
                body = self.app_info(app, {"counts"})
                body["deployments"] = [{"id": plan.id}]
            headers = {"Location": f"http://{self.host_port}{app_id}", "Marathon-Deployment-Id": plan.id}
            return Response.json(body, 201, headers)

        return self._guard(run)

    def update(self, req: Request, app_id: str, partial: bool, allow_create: bool) -> Response:
        def run() -> Response:
            raw = self._body(req)
            if isinstance(raw, dict):
                raw = {k: v for k, v in raw.items() if k != "id"}
            with self.core.lock:
                current = self.core.apps.get(app_id)
                if current is None and not allow_create:
                    return Response.json({"message": f"App '{app_id}' does not exist"}, 404)
                read_app(raw, require_id=False)
                if current is not None and partial:
                    base = {k: v for k, v in current.items() if k not in ("version", "versionInfo")}
                    merged = merge_update(base, raw)
                else:
                    merged = raw
                app = self._prepare(merged, app_id)
                if current is not None:
                    same_config = {k: v for k, v in app.items() if k != "instances"} == {
                        k: v for k, v in current.items() if k not in ("instances", "version", "versionInfo")
                    }
                    if same_config and app["instances"] == current["instances"]:
                        app = current  # unchanged: empty plan, same version
                    else:
                        self._finish(app, timestamp(), same_config, current)
                else:
                    self._finish(app, timestamp(), False, None)
                plan = self.core.deploy(current, app, req.flag("force", False))
                self._post_event(req, app)
            body = {"version": plan.version, "deploymentId": plan.id}
            headers = {"Marathon-Deployment-Id": plan.id}
            if current is None:
                headers["Location"] = f"http://{self.host_port}{app_id}"
                return Response.json(body, 201, headers)
            return Response.json(body, 200, headers)

        return self._guard(run)

    def delete(self, req: Request, app_id: str) -> Response:
        def run() -> Response:
            with self.core.lock:
                current = self.core.apps.get(app_id)
                if current is None:
                    return Response.json({"message": f"App '{app_id}' does not exist"}, 404)
                plan = self.core.deploy(current, None, req.flag("force", True))
            return Response.json(
                {"version": plan.version, "deploymentId": plan.id}, 200, {"Marathon-Deployment-Id": plan.id}
            )

        return self._guard(run)

    def restart(self, req: Request, app_id: str) -> Response:
        def run() -> Response:
            with self.core.lock:
                current = self.core.apps.get(app_id)
                if current is None:
                    return Response.json({"message": f"App '{app_id}' does not exist"}, 404)
                app = self._finish(copy.deepcopy(current), timestamp(), False, current)
                plan = self.core.deploy(current, app, req.flag("force", False))
            return Response.json(
                {"version": plan.version, "deploymentId": plan.id}, 200, {"Marathon-Deployment-Id": plan.id}
            )

        return self._guard(run)

    def _post_event(self, req: Request, app: dict) -> None:
        self.core.bus.publish("api_post_event", clientIp=req.client, uri=req.path, appDefinition=app)

    def list_apps(self, req: Request) -> Response:
        embed = self._embeds(req, {"counts", "deployments"})
        wanted_id, cmd, label = req.param("id"), req.param("cmd"), req.param("label")
        with self.core.lock:
            apps = []
            for app in sorted(self.core.apps.values(), key=lambda a: a["id"]):
                if wanted_id and wanted_id.lower() not in app["id"].lower():
                    continue
                if cmd and cmd.lower() not in (app.get("cmd") or "").lower():
                    continue
                if label:
                    key, _eq, value = label.partition("==")
                    if key not in app.get("labels", {}) or (value and app["labels"][key] != value):
                        continue
                apps.append(self.app_info(app, embed))
        return Response.json({"apps": apps})

    def show(self, req: Request, app_id: str) -> Response:
        with self.core.lock:
            app = self.core.apps.get(app_id)
            if app is None:
                return Response.json({"message": f"App '{app_id}' does not exist"}, 404)
            embed = self._embeds(req, {"counts", "tasks", "lastTaskFailure", "deployments"})
            return Response.json({"app": self.app_info(app, embed)})

    def versions(self, app_id: str) -> Response:
        with self.core.lock:
            if app_id not in self.core.apps:
                return Response.json({"message": f"App '{app_id}' does not exist"}, 404)
            stored = self.core.store.all("app-version")
        return Response.json({"versions": sorted({a["version"] for a in stored if a["id"] == app_id}, reverse=True)})

    def app_tasks(self, req: Request, app_id: str) -> Response:
        with self.core.lock:
            app = self.core.apps.get(app_id)
            if app is None:
                return Response.json({"message": f"App '{app_id}' does not exist"}, 404)
            insts = [i for i in self.core.app_instances(app_id) if i.alive]
            if req.method == "DELETE":
                # AppTasksResource.deleteMany: ?host= narrows; scale=true lowers instances (TaskKiller.killAndScale).
                host = req.param("host")
                doomed = [i for i in insts if host is None or i.host == host]
                return self._kill(req, app, doomed, single=False)
            return Response.json({"tasks": [i.task_json(app) for i in insts]})

    def kill_one(self, req: Request, app_id: str, task_id: str) -> Response:
        # AppTasksResource.deleteOne
        with self.core.lock:
            app = self.core.apps.get(app_id)
            if app is None:
                return Response.json({"message": f"App '{app_id}' does not exist"}, 404)
            doomed = [i for i in self.core.app_instances(app_id) if i.alive and i.task_id == task_id]
            if not doomed:
                return Response.json({"message": f"Task '{task_id}' does not exist"}, 404)
            return self._kill(req, app, doomed, single=True)

    def _kill(self, req: Request, app: dict, doomed: list[Instance], single: bool) -> Response:
        if req.flag("scale", False):
            target = {**app, "instances": max(0, int(app["instances"]) - len(doomed))}
            plan = self.core.deploy(app, self._finish(target, timestamp(), True, app), req.flag("force", False))
            for inst in doomed:
                self.core.kill(inst)
            return Response.json(
                {"version": plan.version, "deploymentId": plan.id}, 200, {"Marathon-Deployment-Id": plan.id}
            )
        tasks = [i.task_json(app) for i in doomed]
        for inst in doomed:
            self.core.kill(inst)
        return Response.json({"task": tasks[0]} if single else {"tasks": tasks})

    def tasks(self, req: Request) -> Response:
        states = {s.lower() for v in req.params("status") for s in v.split(",")}
        out = []
        with self.core.lock:
            for inst in self.core.instances.values():
                app = self.core.apps.get(inst.app_id)
                if app is None or not inst.alive:
                    continue
                if states and inst.state.removeprefix("TASK_").lower() not in states:
                    continue
                out.append(inst.task_json(app))
        return Response.json({"tasks": out})

    # ---- deployments, queue ------------------------------------------------------------------
    def cancel(self, req: Request, dep_id: str) -> Response:
        with self.core.lock:
            dep = next((d for d in self.core.deployments if d.id == dep_id), None)
            if dep is None:
                return Response.json({"message": f"DeploymentPlan {dep_id} does not exist"}, 404)
            if req.flag("force", False):
                self.core.cancel(dep, rollback=False)
                return Response(202, b"")
            plan = self.core.cancel(dep, rollback=True)
        if plan is None:
            return Response(202, b"")
        return Response.json(
            {"version": plan.version, "deploymentId": plan.id}, 200, {"Marathon-Deployment-Id": plan.id}
        )

    def queue(self) -> dict:
        # QueueResource: apps with instances left to launch.
        out = []
        with self.core.lock:
            for app_id, app in sorted(self.core.apps.items()):
                decision = self.core._decide(app_id)
                if decision.launch <= 0:
                    continue
                out.append(
                    {
                        "count": decision.launch,
                        "delay": self.core.backoff.delay_json(app_id),
                        "since": app["version"],
                        "processedOffersSummary": {
                            "processedOffersCount": 0,
                            "unusedOffersCount": 0,
                            "rejectSummaryLastOffers": [],
                            "rejectSummaryLaunchAttempt": [],
                        },
                        "lastUnusedOffers": [],
                        "app": self.app_info(app, set()),
                    }
                )
        return {"queue": out}

    # ---- leader, info, metrics -----------------------------------------------------------------
    def leader(self, req: Request) -> Response:
        if req.method == "GET":
            return Response.json({"leader": self.host_port})
        if req.method == "DELETE":

            def later() -> None:
                time.sleep(0.5)  # LeaderResource.abdicationDelay
                self.abdicate()
                crash(EXIT_LEADERSHIP_ENDED_GRACEFULLY, "Leadership abdicated; Leadership ended gracefully")

            threading.Thread(target=later, daemon=True).start()
            return Response.json({"message": "Leadership abdicated"})
        return Response.message(405, "Method Not Allowed")

    def info(self) -> dict:
        f = self.flags
        return {
            "name": "marathon",
            "version": MARATHON_VERSION,
            "buildref": BUILDREF,
            "elected": True,
            "leader": self.host_port,
            "frameworkId": self.core.framework_id,
            "marathon_config": {
                "access_control_allow_origin": [f["access_control_allow_origin"]]
                if f["access_control_allow_origin"]
                else None,
                "checkpoint": f["checkpoint"],
                "decline_offer_duration": f["decline_offer_duration"],
                "default_network_name": f["default_network_name"],
                "env_vars_prefix": f["env_vars_prefix"],
                "executor": f["executor"],
                "failover_timeout": f["failover_timeout"],
                "features": (f["enable_features"] or "").split(",") if f["enable_features"] else [],
                "framework_name": f["framework_name"],
                "ha": f["ha"],
                "hostname": f["hostname"],
                "launch_token": f["launch_tokens"],
                "launch_token_refresh_interval": f["launch_token_refresh_interval"],
                "leader_proxy_connection_timeout_ms": f["leader_proxy_connection_timeout"],
                "leader_proxy_read_timeout_ms": f["leader_proxy_read_timeout"],
                "local_port_max": f["local_port_max"],
                "local_port_min": f["local_port_min"],
                # InfoResource: config.mesosMaster().redactedConnectionString
                "master": redacted_zk(f["master"]) if str(f["master"]).startswith("zk://") else f["master"],
                "max_instances_per_offer": f["max_instances_per_offer"],
                "mesos_bridge_name": f["mesos_bridge_name"],
                "mesos_heartbeat_failure_threshold": f["mesos_heartbeat_failure_threshold"],
                "mesos_heartbeat_interval": f["mesos_heartbeat_interval"],
                "mesos_leader_ui_url": f["mesos_leader_ui_url"],
                "mesos_role": f["mesos_role"],
                "mesos_user": f["mesos_user"],
                "min_revive_offers_interval": f["min_revive_offers_interval"],
                "offer_matching_timeout": f["offer_matching_timeout"],
                "on_elected_prepare_timeout": f["on_elected_prepare_timeout"],
                "reconciliation_initial_delay": f["reconciliation_initial_delay"],
                "reconciliation_interval": f["reconciliation_interval"],
                "scale_apps_initial_delay": f["scale_apps_initial_delay"],
                "scale_apps_interval": f["scale_apps_interval"],
                "store_cache": f["store_cache"],
                "task_launch_confirm_timeout": f["task_launch_confirm_timeout"],
                "task_launch_timeout": f["task_launch_timeout"],
                "task_lost_expunge_initial_delay": f["task_lost_expunge_initial_delay"],
                "task_lost_expunge_interval": f["task_lost_expunge_interval"],
                "task_reservation_timeout": f["task_reservation_timeout"],
                "webui_url": f["webui_url"],
            },
            "zookeeper_config": {
                "zk": redacted_zk(f["zk"]),
                "zk_compression": f["zk_compression"],
                "zk_compression_threshold": f["zk_compression_threshold"],
                "zk_connection_timeout": f["zk_connection_timeout"],
                "zk_max_node_size": f["zk_max_node_size"],
                "zk_max_versions": f["zk_max_versions"],
                "zk_session_timeout": f["zk_session_timeout"],
                "zk_timeout": f["zk_timeout"],
            },
            "http_config": {"http_port": f["http_port"], "https_port": f["https_port"]},
        }

    def _metric_values(self) -> tuple[dict[str, float], dict[str, int]]:
        core = self.core
        prefix = self.flags["metrics_name_prefix"]
        now = time.time()
        with core.lock:
            insts = [i for i in core.instances.values() if i.alive]
            # Counts are Longs upstream (exposed as 2, not 2.0); durations Doubles in seconds.
            gauges: dict[str, float] = {
                "apps.active": len(core.apps),
                "groups.active": 1,
                "pods.active": 0,
                "deployments.active": len(core.deployments),
                "instances.running": sum(1 for i in insts if i.state == "TASK_RUNNING"),
                "instances.staged": sum(1 for i in insts if i.state in ("TASK_STAGING", "TASK_STARTING")),
                # OverdueInstancesActor: the number found overdue by its last check.
                "instances.launch-overdue": core.launch_overdue,
                "http.event-streams.active": core.bus.count,
                # GroupManagerModule: closureGauge("uptime", (now - startedAt) / 1000.0, Time).
                "uptime": now - self.started,
            }
            leader_since = core.leader_since
            if leader_since is not None:
                # ElectionService.metricsSink: registered on ElectedAsLeaderAndReady as
                # closureGauge("leadership.duration", (now - startedAt) / 1000.0, Time); a
                # standby never answers /metrics itself (LeaderProxyFilter forwards it).
                gauges["leadership.duration"] = now - leader_since
            counters = {
                "deployments": core.counters.get("deployments_started", 0),
                "tasks.launched": core.counters.get("launched", 0),
                "mesos.calls.revive": core.counters.get("revives", 0),
                "mesos.calls.suppress": core.counters.get("suppresses", 0),
                "mesos.offers.incoming": core.counters.get("offers_incoming", 0),
                "mesos.offers.used": core.counters.get("offers_used", 0),
                "mesos.offers.declined": core.counters.get("offers_declined", 0),
            }
        # DropwizardMetrics.constructName: <prefix>.<name>.<type>, then ".seconds" for
        # UnitOfMeasurement.Time (".bytes" for Memory).
        g = {f"{prefix}.{k}.gauge" + (".seconds" if k in TIME_GAUGES else ""): v for k, v in gauges.items()}
        c = {f"{prefix}.{k}.counter": v for k, v in counters.items()}
        return g, c

    def metrics(self) -> dict:
        gauges, counters = self._metric_values()
        return {
            "version": "4.0.0",
            "counters": {k: {"count": v} for k, v in sorted(counters.items())},
            "gauges": {k: {"value": v} for k, v in sorted(gauges.items())},
            "histograms": {},
            "meters": {},
            "timers": {},
        }

    def prometheus(self) -> str:
        gauges, counters = self._metric_values()
        lines: list[str] = []
        for kind, values in (("gauge", gauges), ("counter", counters)):
            for name, value in sorted(values.items()):
                safe = re.sub(r"[^a-zA-Z0-9_]", "_", name)  # PrometheusReporter.sanitizeName
                lines += [f"# TYPE {safe} {kind}", f"{safe} {value}", ""]
        return "\n".join(lines) + "\n"


class BadJson(Exception):
    pass


def instance_for(core: Core, task_id: str) -> Instance | None:
    return next((i for i in core.instances.values() if i.task_id == task_id), None)
