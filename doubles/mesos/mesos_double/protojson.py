"""JSON -> protobuf conversion checks of the Mesos PROTOCOL DOUBLE (not Apache Mesos).

Follows 3rdparty/stout/include/stout/protobuf.hpp (`protobuf::parse<T>(JSON::Value)`: unknown
fields are ignored; a value of the wrong JSON type fails with "Not expecting a JSON <type> for
field '<name>'"; unknown enum names with "Failed to find enum for '<name>'"; bytes must be
base64 ("Failed to base64 decode bytes field"); then "Missing required fields: <paths>", the
paths of google::protobuf's InitializationErrorString in field-number order), for the parts of
include/mesos/v1/scheduler/scheduler.proto and include/mesos/v1/mesos.proto that the double's
scheduler API reads. Sub-messages the double does not inspect (CommandInfo, ContainerInfo,
HealthCheck, ...) are only checked to be JSON objects.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

# field -> (kind, message type or enum values, repeated, required); fields in field-number order.
F = tuple[str, Any, bool, bool]

CALL_TYPES = (
    "UNKNOWN SUBSCRIBE TEARDOWN ACCEPT DECLINE ACCEPT_INVERSE_OFFERS DECLINE_INVERSE_OFFERS REVIVE KILL "
    "SHUTDOWN ACKNOWLEDGE ACKNOWLEDGE_OPERATION_STATUS RECONCILE RECONCILE_OPERATIONS MESSAGE REQUEST SUPPRESS "
    "UPDATE_FRAMEWORK"
).split()
FRAMEWORK_CAPABILITIES = (
    "UNKNOWN REVOCABLE_RESOURCES TASK_KILLING_STATE GPU_RESOURCES SHARED_RESOURCES PARTITION_AWARE MULTI_ROLE "
    "RESERVATION_REFINEMENT REGION_AWARE"
).split()
OPERATION_TYPES = (
    "UNKNOWN LAUNCH LAUNCH_GROUP RESERVE UNRESERVE CREATE DESTROY GROW_VOLUME SHRINK_VOLUME CREATE_DISK DESTROY_DISK"
).split()
VALUE_TYPES = ["SCALAR", "RANGES", "SET", "TEXT"]

ID: dict[str, F] = {"value": ("str", None, False, True)}
LOOSE: dict[str, F] = {}  # an object the double does not look into
LABEL: dict[str, F] = {"key": ("str", None, False, True), "value": ("str", None, False, False)}
LABELS: dict[str, F] = {"labels": ("msg", LABEL, True, False)}
FILTERS: dict[str, F] = {"refuse_seconds": ("num", None, False, False)}
RANGE: dict[str, F] = {"begin": ("num", None, False, True), "end": ("num", None, False, True)}
RESOURCE: dict[str, F] = {
    "name": ("str", None, False, True),
    "type": ("enum", VALUE_TYPES, False, True),
    "scalar": ("msg", {"value": ("num", None, False, True)}, False, False),
    "ranges": ("msg", {"range": ("msg", RANGE, True, False)}, False, False),
    "set": ("msg", {"item": ("str", None, True, False)}, False, False),
    "role": ("str", None, False, False),
}
DOCKER_INFO: dict[str, F] = {
    "image": ("str", None, False, True),
    "network": ("enum", ["HOST", "BRIDGE", "NONE", "USER"], False, False),
    "port_mappings": (
        "msg",
        {
            "host_port": ("num", None, False, True),
            "container_port": ("num", None, False, True),
            "protocol": ("str", None, False, False),
        },
        True,
        False,
    ),
    "privileged": ("bool", None, False, False),
    "parameters": ("msg", {"key": ("str", None, False, True), "value": ("str", None, False, True)}, True, False),
    "force_pull_image": ("bool", None, False, False),
}
CONTAINER_INFO: dict[str, F] = {
    "type": ("enum", ["DOCKER", "MESOS"], False, True),
    "volumes": ("msg", LOOSE, True, False),
    "hostname": ("str", None, False, False),
    "docker": ("msg", DOCKER_INFO, False, False),
    "mesos": ("msg", LOOSE, False, False),
    "network_infos": ("msg", LOOSE, True, False),
}
HEALTH_CHECK: dict[str, F] = {
    "delay_seconds": ("num", None, False, False),
    "interval_seconds": ("num", None, False, False),
    "timeout_seconds": ("num", None, False, False),
    "consecutive_failures": ("num", None, False, False),
    "grace_period_seconds": ("num", None, False, False),
    "type": ("enum", ["UNKNOWN", "COMMAND", "HTTP", "TCP"], False, False),
    "command": ("msg", LOOSE, False, False),
    "http": ("msg", LOOSE, False, False),
    "tcp": ("msg", LOOSE, False, False),
}
TASK_INFO: dict[str, F] = {
    "name": ("str", None, False, True),
    "task_id": ("msg", ID, False, True),
    "agent_id": ("msg", ID, False, True),
    "resources": ("msg", RESOURCE, True, False),
    "executor": ("msg", LOOSE, False, False),
    "command": ("msg", LOOSE, False, False),
    "container": ("msg", CONTAINER_INFO, False, False),
    "health_check": ("msg", HEALTH_CHECK, False, False),
    "kill_policy": ("msg", LOOSE, False, False),
    "labels": ("msg", LABELS, False, False),
    "discovery": ("msg", LOOSE, False, False),
}
OPERATION: dict[str, F] = {
    "type": ("enum", OPERATION_TYPES, False, False),
    "id": ("msg", ID, False, False),
    "launch": ("msg", {"task_infos": ("msg", TASK_INFO, True, False)}, False, False),
    "launch_group": (
        "msg",
        {
            "executor": ("msg", LOOSE, False, True),
            "task_group": ("msg", {"tasks": ("msg", TASK_INFO, True, False)}, False, True),
        },
        False,
        False,
    ),
}
FRAMEWORK_INFO: dict[str, F] = {
    "user": ("str", None, False, True),
    "name": ("str", None, False, True),
    "id": ("msg", ID, False, False),
    "failover_timeout": ("num", None, False, False),
    "checkpoint": ("bool", None, False, False),
    "role": ("str", None, False, False),
    "hostname": ("str", None, False, False),
    "principal": ("str", None, False, False),
    "webui_url": ("str", None, False, False),
    "capabilities": ("msg", {"type": ("enum", FRAMEWORK_CAPABILITIES, False, False)}, True, False),
    "labels": ("msg", LABELS, False, False),
    "roles": ("str", None, True, False),
}
CALL: dict[str, F] = {
    "framework_id": ("msg", ID, False, False),
    "type": ("enum", CALL_TYPES, False, False),
    "subscribe": (
        "msg",
        {
            "framework_info": ("msg", FRAMEWORK_INFO, False, True),
            "force": ("bool", None, False, False),
            "suppressed_roles": ("str", None, True, False),
        },
        False,
        False,
    ),
    "accept": (
        "msg",
        {
            "offer_ids": ("msg", ID, True, False),
            "operations": ("msg", OPERATION, True, False),
            "filters": ("msg", FILTERS, False, False),
        },
        False,
        False,
    ),
    "decline": (
        "msg",
        {"offer_ids": ("msg", ID, True, False), "filters": ("msg", FILTERS, False, False)},
        False,
        False,
    ),
    "kill": (
        "msg",
        {
            "task_id": ("msg", ID, False, True),
            "agent_id": ("msg", ID, False, False),
            "kill_policy": ("msg", LOOSE, False, False),
        },
        False,
        False,
    ),
    "shutdown": (
        "msg",
        {"executor_id": ("msg", ID, False, True), "agent_id": ("msg", ID, False, True)},
        False,
        False,
    ),
    "acknowledge": (
        "msg",
        {
            "agent_id": ("msg", ID, False, True),
            "task_id": ("msg", ID, False, True),
            "uuid": ("bytes", None, False, True),
        },
        False,
        False,
    ),
    "reconcile": (
        "msg",
        {"tasks": ("msg", {"task_id": ("msg", ID, False, True), "agent_id": ("msg", ID, False, False)}, True, False)},
        False,
        False,
    ),
    "message": ("msg", LOOSE, False, False),
    "request": ("msg", LOOSE, False, False),
    "update_framework": (
        "msg",
        {
            "framework_info": ("msg", FRAMEWORK_INFO, False, True),
            "suppressed_roles": ("str", None, True, False),
        },
        False,
        False,
    ),
    "revive": ("msg", {"roles": ("str", None, True, False)}, False, False),
    "suppress": ("msg", {"roles": ("str", None, True, False)}, False, False),
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _scalar(  # noqa: PLR0911 - one return per stout error
    name: str, kind: str, extra: Any, value: Any
) -> str | None:
    jtype = _json_type(value)
    if kind in ("str", "bytes", "enum"):
        if jtype != "string":
            return f"Not expecting a JSON {jtype} for field '{name}'"
        if kind == "enum" and value not in extra:
            return f"Failed to find enum for '{value}'"
        if kind == "bytes":
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                return "Failed to base64 decode bytes field '" + name + "' with value '" + value + "'"
        return None
    if kind == "num":
        # stout also accepts numbers written as JSON strings.
        if jtype == "string":
            try:
                float(value)
            except ValueError:
                return f"Failed to convert '{value}' to number for field '{name}'"
            return None
        return None if jtype == "number" else f"Not expecting a JSON {jtype} for field '{name}'"
    if kind == "bool":
        return None if jtype == "boolean" else f"Not expecting a JSON {jtype} for field '{name}'"
    return None


def _types(obj: dict, schema: dict[str, F]) -> str | None:
    for name, (kind, extra, repeated, _required) in schema.items():
        if name not in obj:
            continue
        value = obj[name]
        values = value if repeated and isinstance(value, list) else [value]
        if repeated and not isinstance(value, list):
            return f"Not expecting a JSON {_json_type(value)} for field '{name}'"
        if not repeated and isinstance(value, list):
            return f"Not expecting a JSON array for field '{name}'"
        for item in values:
            if kind == "msg":
                if not isinstance(item, dict):
                    return f"Not expecting a JSON {_json_type(item)} for field '{name}'"
                error = _types(item, extra)
            else:
                error = _scalar(name, kind, extra, item)
            if error:
                return error
    return None


def _missing(obj: dict, schema: dict[str, F], prefix: str) -> list[str]:
    out: list[str] = []
    for name, (kind, extra, repeated, required) in schema.items():
        if name not in obj:
            if required:
                out.append(prefix + name)
            continue
        if kind != "msg":
            continue
        if repeated:
            for index, item in enumerate(obj[name]):
                out += _missing(item, extra, f"{prefix}{name}[{index}].")
        else:
            out += _missing(obj[name], extra, f"{prefix}{name}.")
    return out


def parse_call(call: Any) -> str | None:
    """protobuf::parse<v1::scheduler::Call>: None, or the error upstream reports."""
    if not isinstance(call, dict):
        return "Expecting a JSON object"
    error = _types(call, CALL)
    if error:
        return error
    missing = _missing(call, CALL, "")
    if missing:
        return "Missing required fields: " + ", ".join(missing)
    return None


def uuid_bytes(value: str) -> bytes:
    return base64.b64decode(value)
