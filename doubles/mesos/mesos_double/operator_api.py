# ruff: noqa: PLR0911, PLR0912 - one branch per call type, as Master::Http::api switches
"""The v1 operator API of the Mesos PROTOCOL DOUBLE's master (not Apache Mesos).

Follows src/master/http.cpp `Master::Http::api` (checks in upstream's order, then one handler per
call: GET_HEALTH, GET_FLAGS, GET_VERSION, GET_METRICS, GET_MASTER, GET_AGENTS, GET_TASKS,
GET_FRAMEWORKS, GET_STATE, TEARDOWN and the maintenance calls), docs/operator-http-api.md and
src/common/http.cpp / src/internal/evolve.cpp for the JSON (empty repeated fields left out, as
`JSON::protobuf` does). Other call types answer 501.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .web import Request, Response, drop_empty, v1_check_request, v1_flags, v1_version


class OperatorApiMixin:
    """POST /api/v1 (mixed into Master)."""

    recovered: bool
    lock: Any
    flags: Any
    info: dict
    start_time: float
    elected_time: float | None
    agents: dict[str, dict]
    schedule: dict

    if TYPE_CHECKING:  # provided by the other parts of Master

        def metrics(self) -> dict:
            """Another part of Master."""

        def operator_teardown(self, framework_id: str) -> Response:
            """Another part of Master."""

        def v1_tasks(self) -> dict:
            """Another part of Master."""

        def v1_frameworks(self) -> dict:
            """Another part of Master."""

        def agent_v1(self, agent_id: str, agent: dict) -> dict:
            """Another part of Master."""

        def maintenance_status(self) -> dict:
            """Another part of Master."""

        def update_schedule(self, schedule: Any, prefix: str = "") -> Response | None:
            """Another part of Master."""

        def machines_transition(self, ids: Any, down: bool, prefix: str = "") -> Response | None:
            """Another part of Master."""

    def api(self, req: Request) -> Response:
        if not self.recovered:
            return Response.text(503, "Master has not finished recovery")
        error, call = v1_check_request(req)
        if error is not None or call is None:
            return error or Response(400)
        kind = call["type"]
        result: dict[str, Any]
        with self.lock:
            if kind == "GET_HEALTH":
                result = {"healthy": True}
            elif kind == "GET_FLAGS":
                result = v1_flags(self.flags)
            elif kind == "GET_VERSION":
                result = v1_version()
            elif kind == "GET_METRICS":
                result = {"metrics": [{"name": k, "value": v} for k, v in self.metrics().items()]}
            elif kind == "GET_MASTER":
                result = {
                    "master_info": self.info,
                    "start_time": self.start_time,
                    **({"elected_time": self.elected_time} if self.elected_time else {}),
                }
            elif kind == "TEARDOWN":
                framework_id = call.get("teardown", {}).get("framework_id", {}).get("value", "")
                return self.operator_teardown(framework_id)
            elif kind == "GET_TASKS":
                result = self.v1_tasks()
            elif kind == "GET_FRAMEWORKS":
                result = self.v1_frameworks()
            elif kind == "GET_AGENTS":
                result = self.v1_agents()
            elif kind == "GET_STATE":
                result = {
                    "get_tasks": self.v1_tasks(),
                    "get_executors": {},
                    "get_frameworks": self.v1_frameworks(),
                    "get_agents": self.v1_agents(),
                }
            elif kind == "GET_MAINTENANCE_STATUS":
                result = {"status": self.maintenance_status()}
            elif kind == "GET_MAINTENANCE_SCHEDULE":
                result = {"schedule": self.schedule}
            elif kind == "UPDATE_MAINTENANCE_SCHEDULE":
                err = self.update_schedule(
                    call.get("update_maintenance_schedule", {}).get("schedule"),
                    "Failed to convert JSON into Call protobuf: ",
                )
                return err or Response(200)
            elif kind in ("START_MAINTENANCE", "STOP_MAINTENANCE"):
                body = call.get(kind.lower(), {})
                err = self.machines_transition(
                    body.get("machines", []), kind == "START_MAINTENANCE", "Failed to convert JSON into Call protobuf: "
                )
                return err or Response(200)
            else:
                return Response.text(501, f"Call type {kind} is not implemented by the Mesos protocol double")
        return Response.json({"type": kind, kind.lower(): drop_empty(result)})

    def v1_agents(self) -> dict:
        return {
            "agents": [self.agent_v1(i, a) for i, a in sorted(self.agents.items())],
            "recovered_agents": [],
        }
