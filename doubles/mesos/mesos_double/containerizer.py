"""The Docker containerizer of the Mesos PROTOCOL DOUBLE: run options, pull, recovery, orphans.

Follows src/docker/docker.cpp (Docker::RunOptions::create, Docker::run, Docker::pull and the
``parse`` of container names), src/slave/containerizer/docker.cpp (DockerContainerizerProcess:
pull, _launch, recover/_recover/__recover with ``--docker_kill_orphans``) and the constants of
src/slave/constants.hpp and src/slave/containerizer/mesos/isolators/cgroups/constants.hpp.
The engine is driven through its HTTP API (docker_engine.py), so ``docker run`` flags become
the equivalent container-create fields; a docker parameter the double does not map fails the
way the CLI fails on an unknown flag (exit status 125).
"""

from __future__ import annotations

import os
import re
import uuid
from typing import Any

from .docker_engine import DockerEngine, EngineError, full_image

# src/slave/containerizer/mesos/isolators/cgroups/constants.hpp
CPU_SHARES_PER_CPU = 1024
MIN_CPU_SHARES = 2
CPU_CFS_PERIOD_US = 100_000  # CPU_CFS_PERIOD = 100ms
MIN_CPU_CFS_QUOTA_US = 1_000  # MIN_CPU_CFS_QUOTA = 1ms
MIN_MEMORY = 32 * 1024 * 1024  # MIN_MEMORY = 32MB
# src/slave/containerizer/docker.hpp: DOCKER_NAME_PREFIX "mesos-", DOCKER_NAME_SEPERATOR "."
DOCKER_NAME_PREFIX = "mesos-"
DOCKER_NAME_SEPERATOR = "."
# Exit status of the docker CLI when the daemon refuses a `docker run` (create or start).
DOCKER_RUN_ERROR_STATUS = 125


class RunOptionsError(Exception):
    pass


class UnknownParameter(Exception):
    """A docker parameter the CLI would refuse (`unknown flag`), or that the double cannot map."""


def container_name(container_id: str) -> str:
    # DockerContainerizerProcess::Container::name: DOCKER_NAME_PREFIX + ContainerID (>= 1.4).
    return DOCKER_NAME_PREFIX + container_id


def parse_container_id(name: str) -> str | None:
    """src/slave/containerizer/docker.cpp parse(): the ContainerID of a Mesos-named container."""
    name = name.lstrip("/")
    if not name.startswith(DOCKER_NAME_PREFIX):
        return None
    rest = name[len(DOCKER_NAME_PREFIX) :]
    if DOCKER_NAME_SEPERATOR in rest:
        parts = rest.split(DOCKER_NAME_SEPERATOR)
        if len(parts) not in (2, 3):
            return None
        rest = parts[1]
    try:
        uuid.UUID(rest)  # "Check if id is a valid UUID."
    except ValueError:
        return None
    return rest


def _scalar(resources: list[dict], name: str) -> float | None:
    values = [r["scalar"]["value"] for r in resources if r.get("name") == name and "scalar" in r]
    return sum(values) if values else None


def _port_ranges(resources: list[dict]) -> list[tuple[int, int]]:
    out = []
    for r in resources:
        if r.get("name") == "ports":
            out += [(int(x["begin"]), int(x["end"])) for x in r.get("ranges", {}).get("range", [])]
    return out


_BYTES = re.compile(r"^(\d+(?:\.\d+)?)\s*([bkmgtp]?)b?$", re.IGNORECASE)


def _ram_bytes(value: str) -> int:
    # docker/go-units RAMInBytes, as `docker run --memory-swap/--shm-size` parse their value.
    match = _BYTES.match(value.strip())
    if not match:
        raise UnknownParameter(f'invalid size: "{value}"')
    power = "bkmgtp".index(match.group(2).lower() or "b")
    return int(float(match.group(1)) * 1024**power)


def apply_parameter(config: dict, host: dict, key: str, value: str) -> None:  # noqa: PLR0912, PLR0915 - one branch per docker run flag
    """`docker run --<key>=<value>` as the equivalent container-create fields."""
    listed = {
        "cap-add": "CapAdd",
        "cap-drop": "CapDrop",
        "dns": "Dns",
        "dns-search": "DnsSearch",
        "dns-opt": "DnsOptions",
        "dns-option": "DnsOptions",
        "add-host": "ExtraHosts",
        "security-opt": "SecurityOpt",
        "volume": "Binds",
        "v": "Binds",
        "group-add": "GroupAdd",
    }
    if key in listed:
        host.setdefault(listed[key], []).append(value)
    elif key in ("label", "l"):
        k, _unused, v = value.partition("=")
        config.setdefault("Labels", {})[k] = v
    elif key in ("env", "e"):
        config.setdefault("Env", []).append(value)
    elif key in ("user", "u"):
        config["User"] = value
    elif key in ("workdir", "w"):
        config["WorkingDir"] = value
    elif key in ("hostname", "h"):
        config["Hostname"] = value
    elif key == "entrypoint":
        config["Entrypoint"] = [value]
    elif key == "stop-signal":
        config["StopSignal"] = value
    elif key == "stop-timeout":
        config["StopTimeout"] = int(value)
    elif key in ("memory-swap", "shm-size", "memory-reservation", "kernel-memory"):
        field = {
            "memory-swap": "MemorySwap",
            "shm-size": "ShmSize",
            "memory-reservation": "MemoryReservation",
            "kernel-memory": "KernelMemory",
        }[key]
        host[field] = -1 if value == "-1" else _ram_bytes(value)
    elif key in ("cpu-period", "cpu-quota", "pids-limit", "memory-swappiness", "oom-score-adj", "cpu-shares"):
        field = {
            "cpu-period": "CpuPeriod",
            "cpu-quota": "CpuQuota",
            "pids-limit": "PidsLimit",
            "memory-swappiness": "MemorySwappiness",
            "oom-score-adj": "OomScoreAdj",
            "cpu-shares": "CpuShares",
        }[key]
        host[field] = int(value)
    elif key in ("cpuset-cpus", "cpuset-mems", "pid", "ipc", "uts", "cgroup-parent", "userns", "runtime"):
        field = {
            "cpuset-cpus": "CpusetCpus",
            "cpuset-mems": "CpusetMems",
            "pid": "PidMode",
            "ipc": "IpcMode",
            "uts": "UTSMode",
            "cgroup-parent": "CgroupParent",
            "userns": "UsernsMode",
            "runtime": "Runtime",
        }[key]
        host[field] = value
    elif key in ("read-only", "init", "oom-kill-disable", "privileged"):
        field = {"read-only": "ReadonlyRootfs", "init": "Init", "oom-kill-disable": "OomKillDisable"}.get(
            key, "Privileged"
        )
        host[field] = value.lower() in ("", "true", "1")
    elif key == "log-driver":
        host.setdefault("LogConfig", {"Type": "", "Config": {}})["Type"] = value
    elif key == "log-opt":
        k, _unused, v = value.partition("=")
        host.setdefault("LogConfig", {"Type": "", "Config": {}})["Config"][k] = v
    elif key == "tmpfs":
        path, _unused, opts = value.partition(":")
        host.setdefault("Tmpfs", {})[path] = opts
    elif key == "sysctl":
        k, _unused, v = value.partition("=")
        host.setdefault("Sysctls", {})[k] = v
    elif key == "ulimit":
        name, _unused, limits = value.partition("=")
        soft, _unused, hard = limits.partition(":")
        host.setdefault("Ulimits", []).append({"Name": name, "Soft": int(soft), "Hard": int(hard or soft)})
    elif key == "device":
        parts = value.split(":")
        host.setdefault("Devices", []).append(
            {
                "PathOnHost": parts[0],
                "PathInContainer": parts[1] if len(parts) > 1 else parts[0],
                "CgroupPermissions": parts[2] if len(parts) > 2 else "rwm",
            }
        )
    else:
        raise UnknownParameter(f"unknown flag: --{key}\nSee 'docker run --help'.")


def run_options(  # noqa: PLR0912, PLR0915 - one branch per field of Docker::RunOptions::create
    task: dict,
    name: str,
    sandbox: str,
    mapped_directory: str,
    enable_cfs: bool,
) -> dict:
    """Docker::RunOptions::create + Docker::run as an Engine API container-create body."""
    container = task.get("container") or {}
    docker = container.get("docker")
    if docker is None:
        raise RunOptionsError("No docker info found in container info")
    command = task.get("command") or {}
    resources = task.get("resources") or []
    limits = {k: float(v.get("value", v) if isinstance(v, dict) else v) for k, v in (task.get("limits") or {}).items()}
    config: dict[str, Any] = {"Image": docker["image"], "AttachStdout": False, "AttachStderr": False, "Tty": False}
    host: dict[str, Any] = {"Privileged": bool(docker.get("privileged", False))}

    cpu_request = _scalar(resources, "cpus")
    mem_request = _scalar(resources, "mem")
    if cpu_request is not None:
        host["CpuShares"] = max(int(CPU_SHARES_PER_CPU * cpu_request), MIN_CPU_SHARES)
    cpu_limit, mem_limit = limits.get("cpus"), limits.get("mem")
    if cpu_limit is not None:
        if cpu_limit != float("inf"):
            host["CpuQuota"] = max(int(CPU_CFS_PERIOD_US * cpu_limit), MIN_CPU_CFS_QUOTA_US)
    elif enable_cfs and cpu_request is not None:
        host["CpuQuota"] = max(int(CPU_CFS_PERIOD_US * cpu_request), MIN_CPU_CFS_QUOTA_US)
    if mem_limit is not None:
        if mem_limit != float("inf"):
            host["Memory"] = max(int(mem_limit) * 1024 * 1024, MIN_MEMORY)
        if mem_request is not None:
            host["MemoryReservation"] = max(int(mem_request * 1024 * 1024), MIN_MEMORY)
    elif mem_request is not None:
        host["Memory"] = max(int(mem_request * 1024 * 1024), MIN_MEMORY)

    env: dict[str, str] = {}
    for var in (command.get("environment") or {}).get("variables", []):
        env[var["name"]] = var.get("value", "")
    env["MESOS_SANDBOX"] = mapped_directory
    env["MESOS_CONTAINER_NAME"] = name
    if resources:
        env["MESOS_ALLOCATION_ROLE"] = (resources[0].get("allocation_info") or {}).get("role", "")

    binds = []
    volume_driver = None
    for volume in container.get("volumes", []):
        cpath = volume.get("container_path", "")
        target = cpath if os.path.isabs(cpath) else os.path.join(mapped_directory, cpath)
        mode = {"RW": "rw", "RO": "ro"}.get(volume.get("mode", "RW"))
        if mode is None:
            raise RunOptionsError("Unsupported volume mode")
        if "host_path" in volume:
            hpath = volume["host_path"]
            if not os.path.isabs(hpath) and not os.path.isabs(cpath):
                raise RunOptionsError(f"Both host_path '{hpath}' and container_path '{cpath}' of a volume are relative")
            if not os.path.isabs(hpath) and "volume_driver" not in docker:
                hpath = os.path.join(sandbox, hpath)
            binds.append(f"{hpath}:{target}:{mode}")
        elif "source" in volume:
            source = volume["source"]
            if source.get("type") != "DOCKER_VOLUME":
                continue  # "Ignored volume type ... as only 'DOCKER_VOLUME' was supported by docker"
            dv = source.get("docker_volume", {})
            if dv.get("driver"):
                if volume_driver is not None and volume_driver != dv["driver"]:
                    raise RunOptionsError("Only one volume driver is supported")
                volume_driver = dv["driver"]
            binds.append(f"{dv.get('name', '')}:{target}:{mode}")
        else:
            raise RunOptionsError("Host path or volume source is required")
    binds.append(f"{sandbox}:{mapped_directory}")  # the sandbox, mapped last
    if docker.get("volume_driver"):
        if volume_driver is not None and volume_driver != docker["volume_driver"]:
            raise RunOptionsError("Only one volume driver per task is supported")
        volume_driver = docker["volume_driver"]
    host["Binds"] = binds
    if volume_driver:
        host["VolumeDriver"] = volume_driver

    network_kind = docker.get("network", "HOST")  # Linux default: HOST
    if network_kind == "HOST":
        network = "host"
    elif network_kind == "BRIDGE":
        network = "bridge"
    elif network_kind == "NONE":
        network = "none"
    elif network_kind == "USER":
        infos = container.get("network_infos") or []
        if not infos:
            raise RunOptionsError("No network info found in container info")
        if len(infos) > 1:
            raise RunOptionsError("Only a single network can be defined in Docker run")
        if not infos[0].get("name"):
            raise RunOptionsError("No network name found in network info")
        network = infos[0]["name"]
    else:
        raise RunOptionsError(f"Unsupported Network mode: {network_kind}")
    if container.get("hostname"):
        if network == "host":
            raise RunOptionsError("Unable to set hostname with host network mode")
        config["Hostname"] = container["hostname"]

    mappings = docker.get("port_mappings") or []
    if mappings:
        if network in ("host", "none"):
            raise RunOptionsError("Port mappings are only supported for bridge and user-defined networks")
        if not resources:
            raise RunOptionsError("Port mappings require resources")
        ranges = _port_ranges(resources)
        if not ranges:
            raise RunOptionsError("Port mappings require port resources")
        exposed: dict[str, dict] = {}
        bindings: dict[str, list] = {}
        for m in mappings:
            hport, cport = int(m["host_port"]), int(m["container_port"])
            if not any(b <= hport <= e for b, e in ranges):
                raise RunOptionsError(f"Port [{hport}] not included in resources")
            key = f"{cport}/{(m.get('protocol') or 'tcp').lower()}"
            exposed[key] = {}
            bindings.setdefault(key, []).append({"HostIp": "", "HostPort": str(hport)})
        config["ExposedPorts"] = exposed
        host["PortBindings"] = bindings

    # Parameters come after everything else on the command line (additionalOptions); the first
    # `net`/`network` replaces the network.
    network_set = False
    unknown: str | None = None
    for param in docker.get("parameters", []):
        key, value = param.get("key", ""), param.get("value", "")
        if not network_set and key in ("net", "network"):
            network, network_set = value, True
            continue
        try:
            apply_parameter(config, host, key, value)
        except (UnknownParameter, ValueError) as exc:
            unknown = unknown or str(exc)
    host["NetworkMode"] = network

    if command.get("shell", True):
        if "value" not in command:
            raise RunOptionsError("Shell specified but no command value provided")
        config["Entrypoint"] = ["/bin/sh"]
        config["Cmd"] = ["-c", command["value"]]
    else:
        args = ([command["value"]] if "value" in command else []) + list(command.get("arguments", []))
        if args:
            config["Cmd"] = args
    config["Env"] = [f"{k}={v}" for k, v in sorted(env.items())] + list(config.get("Env", []))
    config["HostConfig"] = host
    if unknown is not None:
        # The CLI refuses it before talking to the engine: `docker run` exits 125.
        config["__cli_error__"] = unknown
    return config


def run_command_line(engine: DockerEngine, name: str, config: dict) -> str:
    """The `docker run` command line upstream logs ("Running ...") for a create body."""
    host = config["HostConfig"]
    argv = ["run"]
    if host.get("CpuShares") is not None:
        argv += ["--cpu-shares", str(host["CpuShares"])]
    if host.get("CpuQuota") is not None:
        argv += ["--cpu-quota", str(host["CpuQuota"])]
    if host.get("Memory") is not None:
        argv += ["--memory", str(host["Memory"])]
    for env in config.get("Env", []):
        argv += ["-e", env]
    for bind in host.get("Binds", []):
        argv += ["-v", bind]
    argv += ["--net", host.get("NetworkMode", "host")]
    for key, binds in host.get("PortBindings", {}).items():
        for b in binds:
            argv += ["-p", f"{b['HostPort']}:{key.replace('/tcp', '')}"]
    if config.get("Entrypoint"):
        argv += ["--entrypoint", config["Entrypoint"][0]]
    argv += ["--name", name, config["Image"], *config.get("Cmd", [])]
    return engine.cli(*argv)


def pull_image(engine: DockerEngine, image: str, force: bool) -> str | None:
    """DockerContainerizerProcess::pull -> Docker::pull: None, or the launch failure message."""
    ref = full_image(image)
    if not force:
        try:
            if engine.image_inspect(ref) is not None:
                return None
        except (OSError, EngineError):
            pass
    err = engine.pull(ref)
    if err is None:
        return None
    # Docker::___pull -> failure(): "Failed to run '<cmd>': exited with status 1; stderr='...'"
    return f"Failed to run '{engine.cli('pull', ref)}': exited with status 1; stderr='{err}'"


def orphans(engine: DockerEngine, known: set[str], work_dir: str | None) -> list[dict]:
    """DockerContainerizerProcess::__recover: Mesos-named containers whose ContainerID is unknown.

    With ``work_dir`` (the double's default) only containers whose sandbox mount lies under
    that agent work directory are candidates: a DEVIATION that keeps several agents (and
    engineers) on one Docker engine from killing each other's tasks. Upstream considers every
    ``mesos-<uuid>`` container of the engine (``work_dir`` None).
    """
    out = []
    root = os.path.join(os.path.realpath(work_dir), "") if work_dir else None
    for item in engine.list_by_prefix(DOCKER_NAME_PREFIX):
        cid = parse_container_id(item["Name"])
        if cid is None or cid in known:
            continue
        if root is not None:
            sources = [os.path.join(os.path.realpath(m.get("Source", "")), "") for m in item.get("Mounts") or []]
            if not any(s.startswith(root) for s in sources):
                continue
        out.append(dict(item, ContainerID=cid))
    return out
