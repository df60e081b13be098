# ruff: noqa: PLR0911 - one return per deployment action
"""The leader's work in the Marathon PROTOCOL DOUBLE: apps, deployments, the Mesos framework.

Upstream (mesosphere/marathon v1.10.26): MarathonSchedulerService.scala and
core/election/ElectionService.scala (on election: load state, register the framework with the
stored FrameworkID, reconcile), MarathonScheduler.scala (registered/reregistered: store the
framework id, scheduler_registered_event; resourceOffers; statusUpdate; error "Framework has
been removed": exit 110), SchedulerActions.scala (reconcileTasks; unknown tasks are killed;
scaling an app back to its instances after failures), core/task/update/impl
(status_update_event, ACKNOWLEDGE), core/health (health_status_changed_event; an instance whose
Marathon-side check fails ``maxConsecutiveFailures`` times is killed:
unhealthy_instance_kill_event), group/GroupManager and DeploymentManager (one deployment per
app, AppLockedException, force, rollback), storage (apps, their versions, deployments,
instances and the framework id kept under ``<zk path>/state``).
"""

from __future__ import annotations

import getpass
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from . import deployments as plans
from .common import EXIT_FRAMEWORK_REMOVED, crash, log, timestamp
from .deployments import Decision, Deployment
from .events import EventBus
from .mesos_client import Subscription, detect_master
from .scheduler import TERMINAL, Backoff, Instance, Offer, build_task, marathon_check, new_instance
from .zkstore import ZkStore

# core/task/jobs/impl/OverdueInstancesActor: overdueTaskActorInitialDelay, overdueTaskActorCheckInterval.
OVERDUE_INITIAL_DELAY = 30.0
OVERDUE_INTERVAL = 5.0


class AppLocked(Exception):
    def __init__(self, ids: list[str]) -> None:
        super().__init__("App is locked")
        self.ids = ids


class Core:
    def __init__(self, flags: dict[str, Any], store: ZkStore, bus: EventBus) -> None:
        self.flags = flags
        self.store = store
        self.bus = bus
        self.lock = threading.RLock()
        self.wake = threading.Event()
        self.apps: dict[str, dict] = {}
        self.instances: dict[str, Instance] = {}
        self.deployments: list[Deployment] = []
        self.framework_id: str | None = None
        self.backoff = Backoff()
        self.sub: Subscription | None = None
        self.suppressed = False
        self.last_revive = 0.0
        self.launchable_before = False
        self.counters: dict[str, int] = {}
        self.last_failure: dict[str, dict] = {}
        self.started = False
        self.outbox: queue.Queue[tuple[Subscription, dict]] = queue.Queue()
        self.last_offer = 0.0
        self.last_reconcile = time.monotonic()
        # ElectionService.metricsSink: when this instance became leader and ready.
        self.leader_since: float | None = None
        # OverdueInstancesActor: its gauge "instances.launch-overdue" and its next check.
        self.launch_overdue = 0
        self.next_overdue_check = 0.0

    # ---- state -----------------------------------------------------------------------------
    def start(self) -> None:
        """Called once this instance leads: load everything from ZooKeeper, then run."""
        with self.lock:
            for app in self.store.all("app"):
                self.apps[app["id"]] = app
            for data in self.store.all("deployment"):
                self.deployments.append(Deployment.load(data))
            for data in self.store.all("instance"):
                inst = Instance(**data)
                self.instances[inst.id] = inst
            fid = self.store.get("framework-id", "id")
            self.framework_id = fid["value"] if fid else None
            log(
                f"Loaded {len(self.apps)} apps, {len(self.deployments)} deployments, "
                f"{len(self.instances)} instances, framework id {self.framework_id}"
            )
        self.leader_since = time.time()
        self.next_overdue_check = time.monotonic() + OVERDUE_INITIAL_DELAY
        self.started = True
        threading.Thread(target=self._framework_loop, daemon=True, name="framework").start()
        threading.Thread(target=self._loop, daemon=True, name="deployments").start()
        threading.Thread(target=self._sender, daemon=True, name="mesos-calls").start()

    def save_app(self, app: dict) -> None:
        self.store.put("app", app["id"], app)
        self.store.put("app-version", f"{app['id']}/{app['version']}", app)

    def save_instance(self, inst: Instance) -> None:
        if inst.alive:
            self.store.put("instance", inst.id, asdict(inst))
        else:
            self.store.remove("instance", inst.id)

    def count(self, name: str, by: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + by

    def app_instances(self, app_id: str) -> list[Instance]:
        return [i for i in self.instances.values() if i.app_id == app_id]

    def deployments_of(self, app_id: str) -> list[Deployment]:
        return [d for d in self.deployments if app_id in d.target]

    # ---- changes from the API ------------------------------------------------------------
    def deploy(self, original: dict | None, target: dict | None, force: bool) -> Deployment:
        """GroupManager.updateApp + DeploymentManager.deploy (under self.lock)."""
        app_id = str((target or original or {})["id"])
        version = (target or {}).get("version") or timestamp()
        plan = plans.make_plan(original, target, version)
        locking = self.deployments_of(app_id)
        if locking and plan.steps:
            if not force:
                raise AppLocked([d.id for d in locking])
            for old in locking:
                self._end(old, success=False, reason="canceled")
        if target is None:
            self.store.delete("app", app_id)
            self.apps.pop(app_id, None)
        else:
            self.apps[app_id] = target
            self.save_app(target)
            if original is None or plans.config_of(original) != plans.config_of(target):
                self.backoff.reset(app_id)
        self.bus.publish("group_change_success", groupId="/", version=version)
        if not plan.steps:
            self.bus.publish("deployment_success", id=plan.id, plan=plan.to_json())
            return plan
        self.deployments.append(plan)
        self.store.put("deployment", plan.id, plan.stored())
        self.count("deployments_started")
        self.wake.set()
        return plan

    def cancel(self, dep: Deployment, rollback: bool) -> Deployment | None:
        """DELETE /v2/deployments/{id}: force=true stops it; otherwise a rollback deployment."""
        self._end(dep, success=False, reason="canceled")
        if not rollback:
            return None
        app_id = next(iter(dep.target))
        original = dep.original[app_id]
        current = self.apps.get(app_id)
        if original is not None:
            original = {**original, "version": timestamp()}
            original["versionInfo"] = {**original["versionInfo"], "lastScalingAt": original["version"]}
        return self.deploy(current, original, force=True)

    def _end(self, dep: Deployment, success: bool, reason: str = "") -> None:
        if dep in self.deployments:
            self.deployments.remove(dep)
        self.store.remove("deployment", dep.id)
        if success:
            self.bus.publish("deployment_success", id=dep.id, plan=dep.to_json())
            self.count("deployments_succeeded")
        else:
            self.bus.publish("deployment_failed", id=dep.id, plan=dep.to_json(), reason=reason)

    # ---- the deployment loop -----------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            self.wake.wait(0.5)
            self.wake.clear()
            try:
                with self.lock:
                    self._tick()
                self._health_checks()
            except Exception as exc:
                log(f"Deployment loop failed: {exc!r}", "ERROR")

    def _decide(self, app_id: str) -> Decision:
        """What to do for one app now: its running deployment's action, or a scale check."""
        app = self.apps.get(app_id)
        insts = self.app_instances(app_id)
        for dep in self.deployments:
            if app_id not in dep.target:
                continue
            action = dep.steps[dep.current][0]["action"]
            if action == "StopApplication":
                return plans.stop(insts)
            if app is None:
                return Decision(done=True)
            if action == "StartApplication":
                return Decision(done=True)
            if action == "RestartApplication":
                return plans.restart(app, insts)
            return plans.scale(app, insts, int(app["instances"]))
        if app is None:
            return plans.stop(insts)
        # SchedulerActions.scale: relaunch what failed outside of deployments.
        return plans.scale(app, insts, int(app["instances"]))

    def _tick(self) -> None:
        self._overdue_and_reconcile()
        for dep in list(self.deployments):
            if not dep.announced:
                dep.announced = True
                self.bus.publish("deployment_info", plan=dep.to_json(), currentStep=dep.step_json())
            app_id = next(iter(dep.target))
            decision = self._decide(app_id)
            if decision.done:
                self.bus.publish("deployment_step_success", plan=dep.to_json(), currentStep=dep.step_json())
                if dep.steps[dep.current][0]["action"] == "StopApplication":
                    self._forget(app_id)
                dep.current += 1
                if dep.current >= len(dep.steps):
                    dep.current = len(dep.steps) - 1
                    self._end(dep, success=True)
                else:
                    dep.announced = False
                    self.store.put("deployment", dep.id, dep.stored())
                    self.wake.set()
        ids = set(self.apps) | {i.app_id for i in self.instances.values()}
        launchable = False
        for app_id in ids:
            decision = self._decide(app_id)
            for inst in decision.kill:
                self.kill(inst)
            if decision.launch and app_id in self.apps and self.backoff.until(app_id) <= time.monotonic():
                launchable = True
        self._offers_wanted(launchable)

    def _overdue_and_reconcile(self) -> None:
        # core/task/jobs/TaskJobsModule: OverdueInstancesActor starts with leadership and checks
        # 30 s later, then every 5 s; SchedulerActions.reconcileTasks every --reconciliation_interval.
        if time.monotonic() >= self.next_overdue_check:
            self.next_overdue_check = time.monotonic() + OVERDUE_INTERVAL
            self.check_overdue(time.time())
        if time.monotonic() - self.last_reconcile >= self.flags["reconciliation_interval"] / 1000.0:
            self.last_reconcile = time.monotonic()
            self._reconcile()

    def check_overdue(self, now: float) -> None:
        """OverdueInstancesActor.Support.overdueInstances, then killOverdueInstances.

        Overdue: launched and not confirmed by any status update (Condition.Provisioned) for
        --task_launch_confirm_timeout, or TASK_STAGING/TASK_STARTING for --task_launch_timeout,
        both since stagedAt. The gauge "instances.launch-overdue" is set to the number found,
        instances whose kill is still unconfirmed included; each is killed (KillReason.Overdue).
        """
        confirm = self.flags["task_launch_confirm_timeout"] / 1000.0
        timeout = self.flags["task_launch_timeout"] / 1000.0
        overdue = [
            inst
            for inst in self.instances.values()
            if inst.state in ("TASK_STAGING", "TASK_STARTING")
            and now - inst.staged_at > (timeout if inst.confirmed else confirm)
        ]
        self.launch_overdue = len(overdue)
        for inst in overdue:
            if inst.kill_requested:
                continue
            log(f"Task {inst.task_id} overdue: not running {now - inst.staged_at:.0f}s after its launch, killing it")
            app = self.apps.get(inst.app_id)
            if app is not None:
                self.backoff.failed(app)
            self.kill(inst)

    def _forget(self, app_id: str) -> None:
        for inst in self.app_instances(app_id):
            if not inst.alive:
                self.instances.pop(inst.id, None)
        self.bus.publish("app_terminated_event", appId=app_id)

    def _offers_wanted(self, launchable: bool) -> None:
        # ReviveOffersStreamLogic: REVIVE when something became launchable, SUPPRESS when nothing is.
        sub = self.sub
        if sub is None or sub.closed or not self.framework_id:
            return
        now = time.monotonic()
        interval = self.flags["min_revive_offers_interval"] / 1000.0
        # Demand that got no offer for --min_revive_offers_interval is revived again (upstream
        # repeats revives, --revive_offers_repetitions).
        starving = launchable and now - max(self.last_revive, self.last_offer) >= interval
        if launchable and (not self.launchable_before or self.suppressed or starving) and now - self.last_revive >= 0.5:
            self.last_revive = now
            self.suppressed = False
            self._call({"type": "REVIVE"})
            self.count("revives")
        elif not launchable and not self.suppressed and self.flags["suppress_offers"]:
            self.suppressed = True
            self._call({"type": "SUPPRESS"})
            self.count("suppresses")
        self.launchable_before = launchable

    def kill(self, inst: Instance) -> None:
        if inst.kill_requested:
            return
        inst.kill_requested = True
        self.save_instance(inst)
        log(f"Killing {inst.task_id}")
        if inst.state == "TASK_STAGING" and not inst.agent_id:
            inst.state = "TASK_KILLED"
            self.instances.pop(inst.id, None)
            return
        self._call({"type": "KILL", "kill": {"task_id": {"value": inst.task_id}, "agent_id": {"value": inst.agent_id}}})

    # ---- Marathon-side health checks ---------------------------------------------------------
    def _health_checks(self) -> None:
        now = time.time()
        with self.lock:
            todo = []
            for inst in self.instances.values():
                app = self.apps.get(inst.app_id)
                if app is None or inst.state != "TASK_RUNNING" or inst.kill_requested:
                    continue
                for check in app.get("healthChecks", []):
                    if check["protocol"] in ("HTTP", "HTTPS", "TCP"):
                        if now - inst.checked_at >= float(check["intervalSeconds"]):
                            inst.checked_at = now
                            todo.append((inst, app, check))
                        break
        for inst, app, check in todo:
            threading.Thread(target=self._run_check, args=(inst, app, check), daemon=True).start()

    def _run_check(self, inst: Instance, app: dict, check: dict) -> None:
        ok = marathon_check(check, inst, app)
        with self.lock:
            started = inst.started_at or time.time()
            if not ok and time.time() - started < float(check["gracePeriodSeconds"]) and not inst.healthy:
                return  # HealthCheckActor: failures within the grace period are ignored
            inst.failures = 0 if ok else inst.failures + 1
            self._set_health(inst, ok)
            if inst.failures >= int(check["maxConsecutiveFailures"]) > 0:
                self.bus.publish(
                    "unhealthy_instance_kill_event",
                    appId=inst.app_id,
                    taskId=inst.task_id,
                    instanceId=inst.id,
                    version=inst.version,
                    reason=f"{check['protocol']} health check failed",
                    host=inst.host,
                    slaveId=inst.agent_id,
                )
                self.kill(inst)
        self.wake.set()

    def _set_health(self, inst: Instance, healthy: bool) -> None:
        if inst.healthy != healthy:
            inst.healthy = healthy
            self.save_instance(inst)
            self.bus.publish(
                "health_status_changed_event",
                appId=inst.app_id,
                instanceId=inst.id,
                version=inst.version,
                alive=healthy,
            )

    # ---- the Mesos framework -------------------------------------------------------------
    def _framework_info(self) -> dict:
        info: dict[str, Any] = {
            "user": self.flags["mesos_user"] or getpass.getuser(),  # MarathonConf: default user.name
            "name": self.flags["framework_name"],
            "failover_timeout": float(self.flags["failover_timeout"]),
            "checkpoint": bool(self.flags["checkpoint"]),
            "hostname": self.flags["hostname"],
            "webui_url": self.flags["webui_url"] or f"http://{self.flags['hostname']}:{self.flags['http_port']}",
            "roles": [self.flags["mesos_role"]],
            "capabilities": [
                {"type": "MULTI_ROLE"},
                {"type": "PARTITION_AWARE"},
                {"type": "TASK_KILLING_STATE"},
                {"type": "GPU_RESOURCES"},
                {"type": "REGION_AWARE"},
            ],
        }
        if self.flags["mesos_authentication_principal"]:
            info["principal"] = self.flags["mesos_authentication_principal"]
        if self.framework_id:
            info["id"] = {"value": self.framework_id}
        return info

    def _framework_loop(self) -> None:
        delay = 0.5
        while True:
            master = detect_master(self.flags["master"], self.flags["zk_session_timeout"] / 1000.0)
            log(f"Mesos master: {master or 'none detected'}")
            if master:
                call: dict[str, Any] = {"type": "SUBSCRIBE", "subscribe": {"framework_info": self._framework_info()}}
                if self.framework_id:
                    call["framework_id"] = {"value": self.framework_id}
                ended = threading.Event()
                try:
                    sub = Subscription(master, call, self._on_event, self._ended(ended), self._credentials())
                    with self.lock:
                        self.sub = sub
                        self.suppressed = False
                        self.launchable_before = False
                    sub.start()
                    delay = 0.5
                    ended.wait()
                except (OSError, ConnectionError) as exc:
                    log(f"Subscribing to Mesos master {master} failed: {exc}", "WARN")
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _credentials(self) -> tuple[str, bytes] | None:
        # MarathonSchedulerDriver: the principal and the secret file's bytes, as they are (a
        # trailing newline is part of the secret). Over the HTTP API: Basic authentication.
        principal, path = self.flags["mesos_authentication_principal"], self.flags["mesos_authentication_secret_file"]
        if not principal or not path:
            return None
        try:
            with open(path, "rb") as handle:
                return principal, handle.read()
        except OSError as exc:
            log(f"Cannot read --mesos_authentication_secret_file {path}: {exc.strerror}", "ERROR")
            return None

    @staticmethod
    def _ended(ended: threading.Event) -> Callable[[str], None]:
        def on_end(why: str) -> None:
            log(why, "WARN")
            ended.set()

        return on_end

    def _call(self, call: dict) -> None:
        # One ordered outbox (libmesos's driver sends calls in order: a SUPPRESS must not
        # overtake an earlier REVIVE).
        sub = self.sub
        if sub is None or not self.framework_id:
            log(f"Not subscribed to Mesos: {call['type']} dropped", "WARN")
            return
        self.outbox.put((sub, {"framework_id": {"value": self.framework_id}, **call}))

    def _sender(self) -> None:
        while True:
            sub, call = self.outbox.get()
            status, text = sub.call(call, self._credentials())
            if status != 202:
                log(f"{call['type']} answered {status}: {text}", "WARN")

    def _on_event(self, event: dict) -> None:
        kind = event.get("type")
        with self.lock:
            if kind == "SUBSCRIBED":
                fid = event["subscribed"]["framework_id"]["value"]
                log(f"Subscribed to Mesos as framework {fid}")
                registered = self.framework_id != fid
                self.framework_id = fid
                self.store.put("framework-id", "id", {"value": fid})
                master = event["subscribed"].get("master_info", {})
                name = "scheduler_registered_event" if registered else "scheduler_reregistered_event"
                self.bus.publish(name, frameworkId=fid, master=str(master.get("hostname", "")))
                self._reconcile()
            elif kind == "OFFERS":
                self._offers(event["offers"].get("offers", []))
            elif kind == "UPDATE":
                self._update(event["update"]["status"])
            elif kind == "ERROR":
                message = event.get("error", {}).get("message", "")
                if "removed" in message:
                    crash(EXIT_FRAMEWORK_REMOVED, f"Mesos: {message}")
                log(f"Mesos error: {message}", "ERROR")
        self.wake.set()

    def _reconcile(self) -> None:
        # SchedulerActions.reconcileTasks: the known tasks explicitly, then an implicit one.
        tasks = [
            {"task_id": {"value": i.task_id}, "agent_id": {"value": i.agent_id}}
            for i in self.instances.values()
            if i.agent_id
        ]
        self._call({"type": "RECONCILE", "reconcile": {"tasks": tasks}})
        self._call({"type": "RECONCILE", "reconcile": {"tasks": []}})

    def _offers(self, offers: list[dict]) -> None:
        refuse = self.flags["decline_offer_duration"] / 1000.0
        now = time.monotonic()
        self.last_offer = now
        for raw in offers:
            offer = Offer(raw, self.flags["mesos_role"])
            for app_id, app in sorted(self.apps.items()):
                if self.backoff.until(app_id) > now:
                    continue
                decision = self._decide(app_id)
                for _n in range(min(decision.launch, self.flags["max_instances_per_offer"])):
                    inst = new_instance(app)
                    if build_task(app, inst, offer, self.flags["env_vars_prefix"]) is None:
                        break
                    self.instances[inst.id] = inst
                    self.save_instance(inst)
                    self.count("launched")
            self.count("offers_incoming")
            if offer.tasks:
                # TaskLauncherImpl.acceptOffer: noFilter (refuse_seconds 0); declineOffer: --decline_offer_duration.
                self.count("offers_used")
                ops = [{"type": "LAUNCH", "launch": {"task_infos": offer.tasks}}]
                self._call(
                    {
                        "type": "ACCEPT",
                        "accept": {"offer_ids": [raw["id"]], "operations": ops, "filters": {"refuse_seconds": 0.0}},
                    }
                )
            else:
                self.count("offers_declined")
                self._call(
                    {"type": "DECLINE", "decline": {"offer_ids": [raw["id"]], "filters": {"refuse_seconds": refuse}}}
                )

    def _update(self, status: dict) -> None:
        task_id = status["task_id"]["value"]
        state = status["state"]
        if status.get("uuid"):
            ack = {"agent_id": status["agent_id"], "task_id": status["task_id"], "uuid": status["uuid"]}
            self._call({"type": "ACKNOWLEDGE", "acknowledge": ack})
        inst = next((i for i in self.instances.values() if i.task_id == task_id), None)
        if inst is None:
            if state not in TERMINAL:
                # SchedulerActions: a task Marathon does not know is killed.
                self._call(
                    {"type": "KILL", "kill": {"task_id": status["task_id"], "agent_id": status.get("agent_id", {})}}
                )
            return
        app = self.apps.get(inst.app_id)
        changed = inst.state != state
        inst.state = state
        inst.confirmed = True  # Condition.Provisioned ends with the first status update
        if state == "TASK_RUNNING" and inst.started_at is None:
            inst.started_at = time.time()
        for net in status.get("container_status", {}).get("network_infos", []):
            inst.ip_addresses = [
                {"ipAddress": a["ip_address"], "protocol": a.get("protocol", "IPv4")}
                for a in net.get("ip_addresses", [])
            ]
        if "healthy" in status:
            self._set_health(inst, bool(status["healthy"]))
        if changed:
            self.bus.publish(
                "status_update_event",
                slaveId=inst.agent_id,
                taskId=task_id,
                taskStatus=state,
                message=status.get("message", ""),
                appId=inst.app_id,
                host=inst.host,
                ipAddresses=inst.ip_addresses,
                ports=inst.ports,
                version=inst.version,
            )
        if state in TERMINAL:
            if not inst.kill_requested and app is not None:
                self.backoff.failed(app)
                self.count("failed")
                self.last_failure[inst.app_id] = {
                    "appId": inst.app_id,
                    "host": inst.host,
                    "message": status.get("message", ""),
                    "state": state,
                    "taskId": task_id,
                    "timestamp": timestamp(),
                    "version": inst.version,
                    "slaveId": inst.agent_id,
                }
            self.instances.pop(inst.id, None)
        self.save_instance(inst)
