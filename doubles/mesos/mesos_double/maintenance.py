# ruff: noqa: PLR0911, PLR0912 - one return per upstream error, in upstream's order
"""Maintenance of the Mesos PROTOCOL DOUBLE's master (not Apache Mesos).

Follows docs/maintenance.md, src/master/maintenance.cpp (schedule and machine validation,
machine modes) and src/master/http.cpp (/maintenance/schedule, /maintenance/status,
/machine/down, /machine/up and the v1 maintenance calls); MachineID matching follows
include/mesos/type_utils.hpp.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from .common import compact_json
from .web import Request, Response, drop_empty, method_not_allowed


def machine_key(mid: dict) -> tuple[str, str]:
    # include/mesos/type_utils.hpp operator==(MachineID, MachineID) and std::hash<MachineID>:
    # the hostname is compared lower-cased ("Hostname is not case sensitive"), the ip exactly.
    # The master's `machines` hashmap and the schedule's sets match machines that way.
    return ((mid.get("hostname") or "").lower(), mid.get("ip") or "")


def machine_json(mid: dict) -> str:
    # stringify(JSON::protobuf(id)): the form every maintenance message names a machine in
    # (src/master/maintenance.cpp validation::schedule/machines, src/master/http.cpp
    # _startMaintenance/_stopMaintenance).
    return compact_json({k: v for k, v in (("hostname", mid.get("hostname")), ("ip", mid.get("ip"))) if v})


def validate_machine(mid: Any) -> str | None:
    # src/master/maintenance.cpp validation::machine
    if not isinstance(mid, dict):
        return "Expecting a JSON object for a MachineID"
    if not mid.get("hostname") and not mid.get("ip"):
        return "Both 'hostname' and 'ip' for a machine are empty"
    if mid.get("ip"):
        try:
            socket.inet_pton(socket.AF_INET, mid["ip"])
        except OSError:
            return f"Failed to parse IP address '{mid['ip']}'"
    return None


class MaintenanceMixin:
    """The master's maintenance state and handlers (mixed into Master)."""

    machines: dict[tuple[str, str], dict]
    schedule: dict
    agents: dict[str, dict]
    shutdown: set[str]
    lock: Any

    def _remove_agent(self, agent_id: str, cause: str, reason: str | None = None) -> None:
        raise NotImplementedError

    def maintenance_status(self) -> dict:
        # Master::Http::_getMaintenanceStatus: DRAINING and DOWN machines; UP ones are not listed.
        # Each is named by its key in `master->machines` (the MachineID it was first known by).
        draining, down = [], []
        for key in sorted(self.machines):
            machine = self.machines[key]
            if machine["mode"] == "DRAINING":
                draining.append({"id": machine["id"]})
            elif machine["mode"] == "DOWN":
                down.append(machine["id"])
        return drop_empty({"draining_machines": draining, "down_machines": down})

    # ---- maintenance (src/master/maintenance.cpp, src/master/http.cpp) ---------------------------
    def update_schedule(self, schedule: Any, prefix: str = "") -> Response | None:
        # JSON -> Schedule protobuf conversion (stout protobuf::parse), then
        # maintenance::validation::schedule, then ___updateMaintenanceSchedule.
        if not isinstance(schedule, dict):
            return Response.text(400, f"{prefix}Expecting a JSON object")
        windows = schedule.get("windows", [])
        if not isinstance(windows, list) or not all(isinstance(w, dict) for w in windows):
            return Response.text(400, f"{prefix}Not expecting a JSON object for field 'windows'")
        for index, window in enumerate(windows):
            unavailability = window.get("unavailability")
            if not isinstance(unavailability, dict) or not isinstance(unavailability.get("start"), dict):
                return Response.text(400, f"{prefix}Missing required fields: windows[{index}].unavailability.start")
        updated: dict[tuple[str, str], dict] = {}
        for window in windows:
            ids = window.get("machine_ids", [])
            if not ids:
                return Response.text(400, "List of machines in the maintenance window is empty")
            duration = window["unavailability"].get("duration", {}).get("nanoseconds", 0)
            if duration < 0:
                return Response.text(400, "Unavailability 'duration' is negative")
            for mid in ids:
                error = validate_machine(mid)
                if error:
                    return Response.text(400, error)
                key = machine_key(mid)
                if key in updated:
                    return Response.text(400, f"Machine '{machine_json(mid)}' appears more than once in the schedule")
                clean = {k: v for k, v in mid.items() if k in ("hostname", "ip") and v}
                updated[key] = {"id": clean, "unavailability": window["unavailability"]}
        for key, machine in self.machines.items():
            if machine["mode"] == "DOWN" and key not in updated:
                return Response.text(
                    400,
                    f"Machine '{machine_json(machine['id'])}' is deactivated and cannot be removed from the schedule",
                )
        # Machines leaving the schedule go back to UP, new (or UP) ones start DRAINING, the others
        # keep their mode.
        for key, machine in self.machines.items():
            if key not in updated:
                machine["mode"] = "UP"
                machine.pop("unavailability", None)
        for key, value in updated.items():
            known = self.machines.get(key)
            if known is None:
                self.machines[key] = {**value, "mode": "DRAINING"}
            elif known["mode"] == "UP":
                # `master->machines[id]` finds the entry of an equal MachineID (hostname in any
                # case) and keeps its key: /maintenance/status goes on naming the machine as it
                # was first known (e.g. as its agent announced it), while the schedule (GET
                # /maintenance/schedule) is stored and returned as posted.
                known.update(mode="DRAINING", unavailability=value["unavailability"])
            else:
                known["unavailability"] = value["unavailability"]
        self.schedule = drop_empty(schedule)
        return None

    def machines_transition(self, ids: Any, down: bool, prefix: str = "") -> Response | None:
        # Master::Http::_startMaintenance / _stopMaintenance
        if not isinstance(ids, list) or not all(isinstance(m, dict) for m in ids):
            return Response.text(400, f"{prefix}Expecting a JSON array of MachineID objects")
        if not ids:
            return Response.text(400, "List of machines is empty")
        seen = set()
        for mid in ids:
            error = validate_machine(mid)
            if error:
                return Response.text(400, error)
            if machine_key(mid) in seen:
                return Response.text(400, f"Machine '{machine_json(mid)}' appears more than once in the schedule")
            seen.add(machine_key(mid))
        for mid in ids:
            machine = self.machines.get(machine_key(mid))
            if machine is None:
                return Response.text(400, f"Machine '{machine_json(mid)}' is not part of a maintenance schedule")
            if down and machine["mode"] != "DRAINING":
                return Response.text(
                    400, f"Machine '{machine_json(mid)}' is not in DRAINING mode and cannot be brought down"
                )
            if not down and machine["mode"] != "DOWN":
                return Response.text(400, f"Machine '{machine_json(mid)}' is not in DOWN mode and cannot be brought up")
        for mid in ids:
            key = machine_key(mid)
            if down:
                self.machines[key]["mode"] = "DOWN"
                # The agents on a downed machine are told to shut down and removed.
                # (removeSlave without a reason counter: only master/slave_removals counts them).
                for agent_id, agent in list(self.agents.items()):
                    if agent["machine"] == key:
                        self._remove_agent(agent_id, "Operator initiated 'Machine DOWN'")
                        self.shutdown.add(agent_id)
            else:
                self.machines[key]["mode"] = "UP"
                self.machines[key].pop("unavailability", None)
                windows = []
                for window in self.schedule.get("windows", []):
                    kept = [m for m in window.get("machine_ids", []) if machine_key(m) != key]
                    if kept:
                        windows.append({**window, "machine_ids": kept})
                self.schedule = drop_empty({"windows": windows})
        return None

    def http_schedule(self, req: Request) -> Response:
        if req.method == "GET":
            with self.lock:
                return Response.json(self.schedule)
        if req.method != "POST":
            return method_not_allowed(["GET", "POST"], req.method)
        try:
            schedule = json.loads(req.body)
        except ValueError as exc:
            return Response.text(400, f"Failed to parse JSON: {exc}")
        with self.lock:
            error = self.update_schedule(schedule)
        return error or Response(200)
