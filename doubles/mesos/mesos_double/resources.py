"""Resources and attributes of the Mesos PROTOCOL DOUBLE.

Follows src/common/resources.cpp (Resources::parse), src/common/attributes.cpp and the defaults
of src/slave/containerizer/containerizer.cpp (Containerizer::resources).
"""

from __future__ import annotations

import json
import os
from typing import Any

# --------------------------------------------------------------------------------------------
# Resources and attributes (src/common/resources.cpp Resources::parse, src/common/attributes.cpp,
# defaults from src/slave/containerizer/containerizer.cpp Containerizer::resources)
# --------------------------------------------------------------------------------------------


class ResourceError(ValueError):
    pass


def _parse_value(text: str) -> dict:
    # src/common/values.cpp parse(): [a-b,c-d] ranges, {a,b} set, numbers scalar, else text.
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        ranges = []
        for token in filter(None, (t.strip() for t in text[1:-1].split(","))):
            begin, sep, end = token.partition("-")
            if not sep or not begin.strip().isdigit() or not end.strip().isdigit():
                raise ResourceError(f"Expecting one or more \"ranges\", but got '{text}'")
            ranges.append({"begin": int(begin), "end": int(end)})
        return {"type": "RANGES", "ranges": {"range": ranges}}
    if text.startswith("{") and text.endswith("}"):
        items = [t.strip() for t in text[1:-1].split(",") if t.strip()]
        return {"type": "SET", "set": {"item": items}}
    try:
        return {"type": "SCALAR", "scalar": {"value": float(text)}}
    except ValueError:
        return {"type": "TEXT", "text": {"value": text}}


def parse_resources(text: str, default_role: str) -> list[dict]:
    """Resources::parse: JSON array of Resource objects, or 'name(role):value;...'."""
    stripped = text.strip()
    resources: list[dict] = []
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except ValueError as exc:
            raise ResourceError(f"Failed to parse JSON: {exc}") from None
        for item in items:
            if not isinstance(item, dict) or "name" not in item or "type" not in item:
                raise ResourceError("Failed to parse resources: each resource needs 'name' and 'type'")
            res = dict(item)
            res.setdefault("role", default_role)
            resources.append(res)
    else:
        for token in filter(None, (t.strip() for t in stripped.split(";"))):
            pair = token.split(":", 1)
            if len(pair) != 2:
                raise ResourceError(f"Bad value for resources: {token}")
            name, role = pair[0].strip(), default_role
            if "(" in name:
                if not name.endswith(")"):
                    raise ResourceError(f"Bad role for resource {name}")
                name, role = name[:-1].split("(", 1)
            value = _parse_value(pair[1])
            if value["type"] == "TEXT":
                raise ResourceError(f"Failed to parse resource {name} value {pair[1]} error Expecting a number")
            resources.append({"name": name, "role": role, **value})
    for res in resources:
        scalar = res.get("scalar", {}).get("value")
        if scalar is not None and scalar < 0:
            raise ResourceError(f"Invalid scalar resource {res['name']}: negative value")
    return resources


def default_resources(parsed: list[dict], work_dir: str, default_role: str) -> list[dict]:
    """Containerizer::resources: fill cpus, mem, disk, ports that --resources does not name."""
    names = {r["name"] for r in parsed}
    out = list(parsed)
    if "cpus" not in names:
        out.append(
            {"name": "cpus", "role": default_role, "type": "SCALAR", "scalar": {"value": float(os.cpu_count() or 1)}}
        )
    if "mem" not in names:
        total_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
        # Leave 1GB (or half of a machine smaller than 2GB) for the system.
        mem = total_mb - 1024 if total_mb >= 2048 else total_mb // 2
        out.append({"name": "mem", "role": default_role, "type": "SCALAR", "scalar": {"value": float(mem)}})
    if "disk" not in names:
        st = os.statvfs(work_dir)
        total_mb = st.f_frsize * st.f_blocks // (1024 * 1024)
        # Leave 5GB (or half of a disk smaller than 10GB).
        disk = total_mb - 5120 if total_mb >= 10240 else total_mb // 2
        out.append({"name": "disk", "role": default_role, "type": "SCALAR", "scalar": {"value": float(disk)}})
    if "ports" not in names:
        out.append(
            {
                "name": "ports",
                "role": default_role,
                "type": "RANGES",
                "ranges": {"range": [{"begin": 31000, "end": 32000}]},
            }
        )
    return out


def parse_attributes(text: str | None) -> list[dict]:
    """Attributes::parse: 'name:value;...' (a value is a scalar, ranges, set or text)."""
    out: list[dict] = []
    for token in filter(None, (t.strip() for t in (text or "").split(";"))):
        name, sep, value = token.partition(":")
        if not sep:
            raise ResourceError(f"Invalid attribute key:value pair '{token}'")
        out.append({"name": name.strip(), **_parse_value(value)})
    return out


def _value_v0(res: dict) -> Any:
    if res["type"] == "SCALAR":
        return res["scalar"]["value"]
    if res["type"] == "RANGES":
        return "[" + ", ".join(f"{r['begin']}-{r['end']}" for r in res["ranges"]["range"]) + "]"
    if res["type"] == "SET":
        return "{" + ", ".join(res["set"]["item"]) + "}"
    return res["text"]["value"]


def resources_v0(resources: list[dict]) -> dict:
    # model(Resources) in src/common/http.cpp: cpus/mem/disk/gpus always, scalars summed.
    out: dict[str, Any] = {"cpus": 0.0, "disk": 0.0, "gpus": 0.0, "mem": 0.0}
    for res in resources:
        if res["type"] == "SCALAR":
            out[res["name"]] = out.get(res["name"], 0.0) + res["scalar"]["value"]
        else:
            out[res["name"]] = _value_v0(res)
    return out


def attributes_v0(attributes: list[dict]) -> dict:
    return {a["name"]: _value_v0(a) for a in attributes}


def scalar_total(resources: list[dict], name: str) -> float:
    return sum(r["scalar"]["value"] for r in resources if r["name"] == name and r["type"] == "SCALAR")
