"""Deployment plans and their progress, as Marathon 1.10 computes and runs them.

Upstream (mesosphere/marathon v1.10.26): core/deployment/DeploymentPlan.scala (steps: stop
removed apps; start new apps with 0 instances (StartApplication); then ScaleApplication for new
apps and scale-only changes, RestartApplication when ``needsRestart``; empty steps dropped; the
JSON of raml DeploymentPlan: ``id``, ``version``, ``affectedApps``, ``affectedPods``, ``steps``,
``currentActions`` (with ``readinessCheckResults``), ``currentStep``, ``totalSteps``),
core/deployment/impl/DeploymentActor.scala (one step after the other; deployment_info when a
step starts, deployment_step_success when it ends, deployment_success at the end),
TaskStartActor/TaskReplaceActor.scala (RestartStrategy: ``minHealthy = ceil(N *
minimumHealthCapacity)``, ``maxCapacity = floor(N * (1 + maximumOverCapacity))``, +1 when both
are equal, old instances killed while the healthy count stays at least minHealthy, new ones
started while old + new stay within maxCapacity; an app with health checks counts only healthy
instances), DeploymentManagerActor.scala (one deployment per app: AppLockedException; ``force``
cancels the conflicting deployments; DELETE /v2/deployments/{id} rolls back with a new
deployment, ``force=true`` just stops it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from .apps import config_of, max_capacity, min_healthy
from .scheduler import Instance


@dataclass
class Deployment:
    id: str
    version: str
    original: dict[str, dict | None]
    target: dict[str, dict | None]
    steps: list[list[dict]]
    current: int = 0  # index of the running step
    announced: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        current_actions = [{**a, "readinessCheckResults": []} for a in self.steps[self.current]] if self.steps else []
        return {
            "id": self.id,
            "version": self.version,
            "affectedApps": sorted(self.target),
            "affectedPods": [],
            "steps": [{"actions": step} for step in self.steps],
            "currentActions": current_actions,
            "currentStep": min(self.current + 1, len(self.steps)),
            "totalSteps": len(self.steps),
        }

    def step_json(self) -> dict:
        return {"actions": self.steps[self.current] if self.steps else []}

    def stored(self) -> dict:
        return {
            "id": self.id,
            "version": self.version,
            "original": self.original,
            "target": self.target,
            "steps": self.steps,
            "current": self.current,
        }

    @staticmethod
    def load(data: dict) -> Deployment:
        return Deployment(data["id"], data["version"], data["original"], data["target"], data["steps"], data["current"])


def make_plan(original: dict | None, target: dict | None, version: str) -> Deployment:
    """DeploymentPlan.apply for one app."""
    app_id = str((target or original or {})["id"])
    steps: list[list[dict]] = []
    if original is not None and target is None:
        steps.append([{"action": "StopApplication", "app": app_id}])
    elif original is None and target is not None:
        steps.append([{"action": "StartApplication", "app": app_id}])
        steps.append([{"action": "ScaleApplication", "app": app_id}])
    elif original is not None and target is not None:
        # AppDefinition.needsRestart: a config change or a new lastConfigChangeAt (restart).
        changed_at = (original.get("versionInfo") or {}).get("lastConfigChangeAt")
        if config_of(original) != config_of(target) or changed_at != target["versionInfo"]["lastConfigChangeAt"]:
            steps.append([{"action": "RestartApplication", "app": app_id}])
        elif original.get("instances") != target.get("instances"):
            steps.append([{"action": "ScaleApplication", "app": app_id}])
    return Deployment(str(uuid.uuid4()), version, {app_id: original}, {app_id: target}, steps)


@dataclass
class Decision:
    launch: int = 0
    kill: list[Instance] = field(default_factory=list)
    done: bool = False


def _kill_order(instances: list[Instance], app: dict) -> list[Instance]:
    # killSelection YOUNGEST_FIRST (default) / OLDEST_FIRST; not-ready instances go first.
    youngest = app.get("killSelection", "YOUNGEST_FIRST") == "YOUNGEST_FIRST"
    return sorted(instances, key=lambda i: (i.ready(app), -i.staged_at if youngest else i.staged_at))


def scale(app: dict, instances: list[Instance], target: int) -> Decision:
    """ScaleApplication (TaskStartActor / killing the surplus): every version counts."""
    alive = [i for i in instances if i.alive and not i.kill_requested]
    decision = Decision()
    if len(alive) > target:
        decision.kill = _kill_order(alive, app)[: len(alive) - target]
    elif len(alive) < target:
        decision.launch = target - len(alive)
    ready = [i for i in alive if i.ready(app)]
    dying = [i for i in instances if i.alive and i.kill_requested]
    decision.done = len(alive) == target and len(ready) == target and not dying
    return decision


def restart(app: dict, instances: list[Instance]) -> Decision:
    """TaskReplaceActor, recomputed on every change: kill old while healthy >= minHealthy."""
    n = int(app["instances"])
    config = app["versionInfo"]["lastConfigChangeAt"]
    old = [i for i in instances if i.alive and i.config != config]
    new = [i for i in instances if i.alive and i.config == config]
    new_ready = [i for i in new if i.ready(app)]
    keep_min = min_healthy(app)
    cap = max_capacity(app)
    old_live = [i for i in old if not i.kill_requested]
    if keep_min == cap and cap <= len(old_live):
        cap += 1  # "Allow temporary over-capacity of one instance to allow restarting"
    decision = Decision()
    healthy = len(new_ready) + sum(1 for i in old_live if i.ready(app))
    surplus_new = len(new) > n
    for inst in _kill_order(old_live, app):
        if not inst.ready(app):
            decision.kill.append(inst)
        elif healthy - 1 >= keep_min or surplus_new or len(new_ready) >= n:
            decision.kill.append(inst)
            healthy -= 1
    room = cap - len(old) - len(new)
    decision.launch = max(0, min(room, n - len(new)))
    decision.done = not old and len(new) == n and len(new_ready) == n
    return decision


def stop(instances: list[Instance]) -> Decision:
    alive = [i for i in instances if i.alive]
    return Decision(kill=[i for i in alive if not i.kill_requested], done=not alive)
