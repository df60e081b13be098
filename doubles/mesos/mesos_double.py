# HTTP routers and start-up checks mirror upstream's long if-chains on purpose; the /tmp paths
# are upstream's own flag defaults (os::temp()).
# ruff: noqa: PLR0911, PLR0912, PLR0915, S108
"""A PROTOCOL DOUBLE of Apache Mesos (master and agent) for orchestrator.platform tests and labs.

This is NOT Apache Mesos. It imitates Mesos where the collection touches it, from upstream
apache/mesos docs and sources (each behaviour below names the upstream file it follows), so that
a wrong role or module fails against it. It runs no tasks, frameworks or executors. Run it as

    mesos_double.py master --zk=zk://127.0.0.1:2181/mesos --quorum=1 --work_dir=/var/lib/mesos
    mesos_double.py agent --master=zk://127.0.0.1:2181/mesos --work_dir=/var/lib/mesos-agent

or install it (Debian's python3 + python3-kazoo only) as ``mesos-master`` / ``mesos-agent``: the
personality then comes from the program name. See doubles/README.md for every simplification.

Flags:Flag handling of the Mesos PROTOCOL DOUBLE (not Apache Mesos): stout's rules, Mesos's names.

Everything here follows upstream apache/mesos sources:

- loading, precedence and error texts: ``3rdparty/stout/include/stout/flags/flags.hpp``
  (``FlagsBase::load``/``extract``): command line ``--name=value``, boolean ``--name`` and
  ``--no-name``; ``--name value`` is NOT a pair (``--name`` alone is "Missing value" for a
  non-boolean flag and the bare word is skipped); environment ``MESOS_<NAME>`` (any case) is
  taken only for KNOWN flag names and only when the command line did not name the flag;
  unknown environment variables are ignored; ``MESOS_NO_X`` is the name ``no_x`` (an
  underscore, never ``no-``), so it names no flag and is ignored: it does not negate.
- value parsers and their messages: ``stout/flags/parse.hpp`` (booleans), ``stout/duration.hpp``
  (``Duration::parse``), ``stout/bytes.hpp`` (``Bytes::parse``), ``stout/numify.hpp``,
  ``stout/flags/fetch.hpp`` (``file://`` values are read from the file).
- flag names, aliases (deprecated names), defaults and validations: ``src/master/flags.cpp``,
  ``src/slave/flags.cpp``, ``src/logging/flags.cpp``.
- what ``main()`` prints on a load error: ``src/master/main.cpp`` and ``src/slave/main.cpp``
  (the error, a blank line, then "See `mesos-master --help` for a list of supported flags.").
"""

from __future__ import annotations

import http.client
import json
import math
import os
import re
import shutil
import signal
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NoReturn

# --------------------------------------------------------------------------------------------
# Flags (3rdparty/stout/include/stout/flags/flags.hpp and friends)
# --------------------------------------------------------------------------------------------

# Units of stout/duration.hpp, in nanoseconds.
_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "secs": 1_000_000_000,
    "mins": 60 * 1_000_000_000,
    "hrs": 3600 * 1_000_000_000,
    "days": 86400 * 1_000_000_000,
    "weeks": 7 * 86400 * 1_000_000_000,
}
# Units of stout/bytes.hpp.
_BYTES_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


class FlagError(Exception):
    """A flag could not be loaded; the message is the one stout would return."""

    flags: Flags | None = None


@dataclass(frozen=True)
class Duration:
    nanos: int

    @property
    def secs(self) -> float:
        return self.nanos / 1e9

    def __str__(self) -> str:
        # stout/duration.hpp operator<<: the largest unit not above the value, printed as a
        # double with 15 significant digits ("1mins", "1.5mins", "10secs").
        n = self.nanos
        sign = "-" if n < 0 else ""
        n = abs(n)
        for unit in ("weeks", "days", "hrs", "mins", "secs", "ms", "us"):
            if n >= _DURATION_UNITS[unit]:
                return f"{sign}{_fmt_double(n / _DURATION_UNITS[unit])}{unit}"
        return f"{sign}{n}ns"


@dataclass(frozen=True)
class Bytes:
    value: int

    def __str__(self) -> str:
        # stout/bytes.hpp operator<<: raise the unit only without loss of information.
        b = self.value
        if b == 0:
            return "0B"
        for unit, size in (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
            if b % size == 0:
                return f"{b // size}{unit}"
        return f"{b}B"


def _fmt_double(x: float) -> str:
    text = f"{x:.15g}"
    return text


def numify_double(s: str) -> float:
    try:
        value = float(s)
    except ValueError:
        raise FlagError(f"Failed to convert '{s}' to number") from None
    if s.strip() != s or s == "" or (math.isnan(value) and s.lower() != "nan"):
        raise FlagError(f"Failed to convert '{s}' to number")
    return value


def numify_uint(s: str, bits: int | None = None) -> int:
    # stout/numify.hpp (boost::lexical_cast): digits only; out of range fails too.
    if not s or not s.isdigit():
        raise FlagError(f"Failed to convert '{s}' to number")
    value = int(s)
    if bits is not None and value >= 2**bits:
        raise FlagError(f"Failed to convert '{s}' to number")
    return value


def numify_int(s: str) -> int:
    body = s[1:] if s[:1] in "+-" else s
    if not body or not body.isdigit():
        raise FlagError(f"Failed to convert '{s}' to number")
    return int(s)


def parse_duration(s: str) -> Duration:
    # stout/duration.hpp Duration::parse: digits and '.', then one of the unit names, nothing
    # else ("5mins" is valid, "5 mins", "5minutes" and "300" are not).
    index = 0
    while index < len(s):
        if s[index].isdigit() or s[index] == ".":
            index += 1
            continue
        value = numify_double(s[:index])
        unit = s[index:]
        if unit in _DURATION_UNITS:
            return Duration(round(value * _DURATION_UNITS[unit]))
        raise FlagError(f"Unknown duration unit '{unit}'")
    raise FlagError(f"Invalid duration '{s}'")


def parse_bytes(s: str) -> Bytes:
    # stout/bytes.hpp Bytes::parse: an unsigned integer then B, KB, MB, GB or TB (any case).
    index = 0
    while index < len(s):
        if s[index].isdigit():
            index += 1
            continue
        if s[index] == ".":
            raise FlagError(f"Fractional bytes '{s}'")
        value = numify_uint(s[:index])
        unit = s[index:].upper()
        if unit in _BYTES_UNITS:
            return Bytes(value * _BYTES_UNITS[unit])
        raise FlagError(f"Unknown bytes unit '{unit}'")
    raise FlagError(f"Invalid bytes '{s}'")


def parse_bool(s: str) -> bool:
    # stout/flags/parse.hpp.
    if s in ("true", "1"):
        return True
    if s in ("false", "0"):
        return False
    raise FlagError("Expecting a boolean (e.g., true or false)")


def parse_json(s: str) -> Any:
    # JSON-valued flags (acls, firewall_rules, modules, domain, ...) take inline JSON or a path.
    text = s
    if s.startswith("/"):
        try:
            with open(s, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise FlagError(f"Error reading file '{s}': {exc.strerror}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise FlagError(f"Failed to parse JSON: {exc}") from None


PARSERS: dict[str, Callable[[str], Any]] = {
    "bool": parse_bool,
    "string": lambda s: s,
    "path": lambda s: s,
    "uint": numify_uint,
    "uint16": lambda s: numify_uint(s, 16),
    "int": numify_int,
    "double": numify_double,
    "duration": parse_duration,
    "bytes": parse_bytes,
    "json": parse_json,
}


@dataclass
class Flag:
    name: str
    kind: str
    help: str
    default: Any = None
    alias: str | None = None  # flags::DeprecatedName in upstream
    required: bool = False
    validate: Callable[[Any], str | None] | None = None


def stringify(kind: str, value: Any) -> str:
    if kind == "bool":
        return "true" if value else "false"
    if kind == "double":
        return _fmt_double(float(value))
    if kind == "json":
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


@dataclass
class Flags:
    program: str
    specs: dict[str, Flag]
    values: dict[str, Any] = field(default_factory=dict)
    loaded: dict[str, str] = field(default_factory=dict)  # flag name -> name it was loaded by
    warnings: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> Any:
        return self.values.get(name)

    def get(self, name: str, default: Any = None) -> Any:
        value = self.values.get(name)
        return default if value is None else value

    def is_set(self, name: str) -> bool:
        return name in self.loaded

    def effective_name(self, name: str) -> str:
        return self.loaded.get(name, name)

    def as_strings(self) -> dict[str, str]:
        """What upstream's /flags and state 'flags' show: every flag that has a value."""
        out: dict[str, str] = {}
        for name, spec in self.specs.items():
            value = self.values.get(name)
            if value is None:
                continue
            out[self.effective_name(name)] = stringify(spec.kind, value)
        return dict(sorted(out.items()))

    def usage(self, header: str) -> str:
        # stout FlagsBase::usage: "Usage: <program> [options]", then one column of names.
        lines = [header, "", f"Usage: {self.program} [options]", ""]
        col1: dict[str, str] = {}
        for name, spec in self.specs.items():
            if spec.kind == "bool":
                text = f"  --[no-]{name}" + (f", --[no-]{spec.alias}" if spec.alias else "")
            else:
                text = f"  --{name}=VALUE" + (f", --{spec.alias}=VALUE" if spec.alias else "")
            col1[name] = text
        width = max(len(t) for t in col1.values())
        for name in sorted(col1):
            spec = self.specs[name]
            helptext = spec.help
            if spec.default is not None:
                helptext += f" (default: {stringify(spec.kind, spec.default)})"
            lines.append(col1[name].ljust(width + 5) + helptext)
        return "\n".join(lines)


def _fetch(spec: Flag, raw: str) -> Any:
    # stout/flags/fetch.hpp: a 'file://' value is replaced by the file's contents (not for
    # Path-typed flags, which keep the path).
    value = raw
    if spec.kind != "path" and raw.startswith("file://"):
        path = raw[len("file://") :]
        try:
            with open(path, encoding="utf-8") as fh:
                value = fh.read()
        except OSError as exc:
            raise FlagError(f"Error reading file '{path}': {exc.strerror}") from None
        if spec.kind != "json":
            value = value.strip()
    return PARSERS[spec.kind](value)


def load(
    program: str,
    specs: Sequence[Flag],
    argv: Sequence[str],
    environ: Mapping[str, str],
    prefix: str = "MESOS_",
) -> Flags:
    """stout FlagsBase::load(prefix, argc, argv) with unknowns=false, duplicates=false."""
    by_name = {s.name: s for s in specs}
    aliases = {s.alias: s.name for s in specs if s.alias}
    flags = Flags(program=program, specs=by_name)
    for spec in specs:
        if spec.default is not None:
            flags.values[spec.name] = spec.default

    values: list[tuple[str, str | None]] = []
    for raw in argv:
        arg = raw.strip()
        if arg == "--":
            break
        if not arg.startswith("--"):
            continue  # stout skips anything that does not look like a flag
        if "=" in arg:
            name, value = arg[2:].split("=", 1)
            values.append((name.lower(), value))
        else:
            values.append((arg[2:].lower(), None))
    cmd_names = {n for n, _unused in values}
    for key, value in environ.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix) :].lower()  # Allow PREFIX_NAME or PREFIX_name.
        flag_name = name[3:] if name.startswith("no-") else name
        if (flag_name in by_name or flag_name in aliases) and name not in cmd_names:
            values.append((name, value))
    # stout keeps them in a std::multimap, i.e. sorted by name.
    values.sort(key=lambda nv: nv[0])

    try:
        _load_values(flags, values, by_name, aliases)
    except FlagError as exc:
        exc.flags = flags  # main() still honours --help/--version loaded before the error
        raise
    return flags


def _load_values(
    flags: Flags, values: list[tuple[str, str | None]], by_name: dict[str, Flag], aliases: dict[str, str]
) -> None:
    for name, value in values:
        negated = name.startswith("no-")
        flag_name = name[3:] if negated else name
        real = aliases.get(flag_name, flag_name)
        spec = by_name.get(real)
        if spec is None:
            raise FlagError(f"Failed to load unknown flag '{flag_name}'" + (f" via '{name}'" if negated else ""))
        if real in flags.loaded:
            raise FlagError(f"Flag '{flag_name}' is already loaded via name '{flags.loaded[real]}'")
        if spec.kind != "bool":
            if negated:
                raise FlagError(f"Failed to load non-boolean flag '{flag_name}' via '{name}'")
            if value is None:
                raise FlagError(f"Failed to load non-boolean flag '{flag_name}': Missing value")
            text = value
        elif value is None or value == "":
            text = "false" if negated else "true"
        elif not negated:
            text = value
        else:
            raise FlagError(f"Failed to load boolean flag '{flag_name}' via '{name}' with value '{value}'")
        try:
            flags.values[real] = _fetch(spec, text)
        except FlagError as exc:
            raise FlagError(f"Failed to load flag '{flag_name}': Failed to load value '{text}': {exc}") from None
        flags.loaded[real] = flag_name
        if flag_name in aliases:
            flags.warnings.append(f"Loaded deprecated flag '{flag_name}'")

    for spec in by_name.values():
        if spec.required and spec.name not in flags.loaded:
            raise FlagError(f"Flag '{spec.name}' is required, but it was not provided")
        if spec.validate is not None:
            error = spec.validate(flags.values.get(spec.name))
            if error:
                raise FlagError(error)


def environ_snapshot() -> dict[str, str]:
    return dict(os.environ)


# --------------------------------------------------------------------------------------------
# Flag tables: names, types, defaults and deprecated aliases from src/master/flags.cpp,
# src/slave/flags.cpp (1.11 / development head) and src/logging/flags.cpp. Help texts are
# shortened; flags that only exist in some builds (SSL, XFS, seccomp, port mapping) are accepted.
# --------------------------------------------------------------------------------------------

D = parse_duration
_S = "string"

LOGGING_FLAGS: list[tuple[str, str, Any, str | None, str]] = [
    # src/logging/flags.cpp
    ("quiet", "bool", False, None, "Disable logging to stderr."),
    ("logging_level", _S, "INFO", None, "Log message level: INFO, WARNING or ERROR."),
    ("log_dir", _S, None, None, "Location to put log files."),
    ("logbufsecs", "int", 0, None, "Maximum number of seconds that logs may be buffered for."),
    ("initialize_driver_logging", "bool", True, None, "Whether the master/agent should initialize Google logging."),
    ("external_log_file", _S, None, None, "Location of the externally managed log file."),
]

MASTER_FLAGS: list[tuple[str, str, Any, str | None, str]] = [
    ("version", "bool", False, None, "Show version and exit."),
    ("hostname", _S, None, None, "The hostname the master should advertise in ZooKeeper."),
    ("hostname_lookup", "bool", True, None, "Whether to look up the hostname when --hostname is unset."),
    ("root_submissions", "bool", True, None, "Can root submit frameworks?"),
    ("work_dir", _S, None, None, "Path of the master work directory (the replicated log lives here)."),
    ("registry", _S, "replicated_log", None, "Persistence strategy for the registry: replicated_log or in_memory."),
    ("quorum", "uint", None, None, "Size of the quorum of replicas (quorum > masters/2)."),
    ("zk_session_timeout", "duration", D("10secs"), None, "ZooKeeper session timeout."),
    ("registry_strict", "bool", False, None, "Disabled upstream; true is rejected."),
    ("registry_fetch_timeout", "duration", D("1mins"), None, "Time to wait for a registry fetch."),
    ("registry_store_timeout", "duration", D("20secs"), None, "Time to wait for a registry store."),
    ("log_auto_initialize", "bool", True, None, "Automatically initialize the replicated log."),
    ("agent_reregister_timeout", "duration", D("10mins"), "slave_reregister_timeout", "Agent reregistration timeout."),
    ("recovery_agent_removal_limit", _S, "100%", "recovery_slave_removal_limit", "Failover agent removal limit."),
    ("agent_removal_rate_limit", _S, None, "slave_removal_rate_limit", "Maximum agent removal rate."),
    ("webui_dir", _S, "/usr/share/mesos/webui", None, "Directory path of the webui files/assets"),
    ("whitelist", "path", None, None, "Path to a file listing agents to advertise offers for."),
    ("role_sorter", _S, "drf", "user_sorter", "Policy for allocating between roles."),
    ("framework_sorter", _S, "drf", None, "Policy for allocating between a role's frameworks."),
    ("allocation_interval", "duration", D("1secs"), None, "Time between batch allocations."),
    ("cluster", _S, None, None, "Human readable name for the cluster, displayed in the webui."),
    ("roles", _S, None, None, "Deprecated comma-separated list of roles."),
    ("weights", _S, None, None, "Deprecated role=weight list."),
    ("authenticate_frameworks", "bool", False, "authenticate", "Only authenticated frameworks may register."),
    ("authenticate_agents", "bool", False, "authenticate_slaves", "Only authenticated agents may register."),
    ("authentication_v0_timeout", "duration", D("15secs"), None, "v0 authentication timeout."),
    ("authenticate_http_readwrite", "bool", False, "authenticate_http", "Authenticate read-write endpoints."),
    ("authenticate_http_readonly", "bool", False, None, "Authenticate read-only endpoints."),
    ("authenticate_http_frameworks", "bool", False, None, "Authenticate HTTP frameworks."),
    ("credentials", "path", None, None, "Path to a JSON file with credentials."),
    ("acls", "json", None, None, "JSON ACLs or a path to them."),
    ("firewall_rules", "json", None, None, "JSON endpoint firewall rules or a path to them."),
    ("rate_limits", "json", None, None, "JSON framework rate limits or a path to them."),
    ("offer_timeout", "duration", None, None, "Duration before an offer is rescinded."),
    ("modules", "json", None, None, "Modules to load (JSON or path)."),
    ("modules_dir", _S, None, None, "Directory of module manifests."),
    ("authenticators", _S, "crammd5", None, "Authenticator implementation."),
    ("allocator", _S, "hierarchical", None, "Allocator to use for resource allocation to frameworks."),
    ("allocator_agent_recovery_factor", "double", 0.8, None, "Fraction of agents to wait for after election."),
    ("allocator_recovery_timeout", "duration", D("1mins"), None, "Maximum wait before offers after election."),
    ("fair_sharing_excluded_resource_names", _S, None, None, "Resources excluded from fair sharing."),
    ("filter_gpu_resources", "bool", True, None, "Filter offers of GPU agents."),
    ("min_allocatable_resources", _S, "cpus:0.01|mem:32", None, "Minimum allocatable resources."),
    ("hooks", _S, None, None, "Hook modules to install."),
    ("agent_ping_timeout", "duration", D("15secs"), "slave_ping_timeout", "Agent ping timeout."),
    ("max_agent_ping_timeouts", "uint", 5, "max_slave_ping_timeouts", "Missed pings before unreachable."),
    ("authorizers", _S, "local", None, "Authorizer implementation."),
    ("http_authenticators", _S, "basic", None, "HTTP authenticator implementation."),
    ("http_framework_authenticators", _S, None, None, "HTTP framework authenticator."),
    ("max_operator_event_stream_subscribers", "uint", 1000, None, "Maximum operator event stream subscribers."),
    ("max_completed_frameworks", "uint", 50, None, "Maximum completed frameworks kept in memory."),
    ("max_completed_tasks_per_framework", "uint", 1000, None, "Maximum completed tasks per framework."),
    ("max_unreachable_tasks_per_framework", "uint", 1000, None, "Maximum unreachable tasks per framework."),
    ("master_contender", _S, None, None, "Master contender module (not with --zk)."),
    ("master_detector", _S, None, None, "Master detector module (not with --zk)."),
    ("registry_gc_interval", "duration", D("15mins"), None, "Registry garbage collection interval."),
    ("registry_max_agent_age", "duration", D("2weeks"), None, "Maximum age of disconnected agents kept."),
    ("registry_max_agent_count", "uint", 102400, None, "Maximum number of gone agents kept."),
    ("ip", _S, None, None, "IP address to listen on."),
    ("port", "uint16", 5050, None, "Port to listen on."),
    ("advertise_ip", _S, None, None, "IP address advertised to reach this master."),
    ("advertise_port", _S, None, None, "Port advertised to reach this master."),
    ("memory_profiling", "bool", False, None, "Expose jemalloc memory profiling."),
    ("zk", _S, None, None, "ZooKeeper URL: zk://[user:pass@]host1:port1,.../path or file:///path."),
    ("ip_discovery_command", _S, None, None, "IP discovery command (not with --ip)."),
    ("require_agent_domain", "bool", False, None, "Only agents with a domain may register."),
    ("publish_per_framework_metrics", "bool", True, None, "Publish per-framework metrics."),
    ("domain", "json", None, None, "Fault domain of the master (JSON or path)."),
    ("offer_constraints_re2_max_mem", "bytes", Bytes(4 * 1024**2), None, "RE2 memory limit."),
    ("offer_constraints_re2_max_program_size", "uint", 100, None, "RE2 program size limit."),
]

AGENT_FLAGS: list[tuple[str, str, Any, str | None, str]] = [
    ("hostname", _S, None, None, "The hostname the agent should report."),
    ("hostname_lookup", "bool", True, None, "Whether to look up the hostname when --hostname is unset."),
    ("version", "bool", False, None, "Show version and exit."),
    ("resources", _S, None, None, "Total consumable resources: 'name(role):value;...' or JSON."),
    ("resource_provider_config_dir", _S, None, None, "Local resource provider configs."),
    ("csi_plugin_config_dir", _S, None, None, "CSI plugin configs."),
    ("disk_profile_adaptor", _S, None, None, "Disk profile adaptor module."),
    ("isolation", _S, "posix/cpu,posix/mem", None, "Isolation mechanisms, e.g. cgroups/cpu,cgroups/mem."),
    ("launcher", _S, "linux", None, "Launcher for the Mesos containerizer: linux or posix."),
    ("image_providers", _S, None, None, "Supported image providers, e.g. APPC,DOCKER."),
    ("image_provisioner_backend", _S, None, None, "Rootfs provisioning backend."),
    ("image_gc_config", "json", None, None, "Image garbage collection config."),
    ("appc_simple_discovery_uri_prefix", _S, "http://", None, "Appc simple discovery URI prefix."),
    ("appc_store_dir", _S, "/tmp/mesos/store/appc", None, "Appc image store."),
    ("docker_registry", _S, "https://registry-1.docker.io", None, "Default Docker registry."),
    ("docker_store_dir", _S, "/tmp/mesos/store/docker", None, "Docker image store."),
    ("docker_volume_checkpoint_dir", _S, "/var/run/mesos/isolators/docker/volume", None, "Docker volume checkpoints."),
    ("docker_volume_chown", "bool", False, None, "Chown docker volume mount points."),
    ("docker_ignore_runtime", "bool", False, None, "Ignore Docker image runtime config."),
    ("default_role", _S, "*", None, "Role of resources that omit one."),
    ("attributes", _S, None, None, "Attributes of the agent machine: 'rack:2;u:1'."),
    ("fetcher_cache_size", "bytes", Bytes(2 * 1024**3), None, "Size of the fetcher cache."),
    ("fetcher_cache_dir", _S, "/tmp/mesos/fetch", None, "Fetcher cache directory."),
    ("fetcher_stall_timeout", "duration", D("1mins"), None, "Fetcher stall timeout."),
    ("work_dir", _S, None, None, "Path of the agent work directory (required)."),
    ("runtime_dir", _S, "/var/run/mesos", None, "Agent runtime directory."),
    ("launcher_dir", _S, "/usr/libexec/mesos", None, "Directory of Mesos helper binaries."),
    ("hadoop_home", _S, None, None, "Hadoop installation path."),
    ("switch_user", "bool", True, None, "Run tasks as the submitting user."),
    ("volume_gid_range", _S, None, None, "Gid range for shared volumes."),
    ("http_heartbeat_interval", "duration", D("30secs"), None, "HTTP API heartbeat interval."),
    ("frameworks_home", _S, "", None, "Directory prepended to relative executor URIs"),
    ("registration_backoff_factor", "duration", D("1secs"), None, "(Re-)registration backoff factor."),
    ("authentication_backoff_factor", "duration", D("1secs"), None, "Authentication backoff factor."),
    ("authentication_timeout_min", "duration", D("5secs"), None, "Minimum authentication retry wait."),
    ("authentication_timeout_max", "duration", D("1mins"), None, "Maximum authentication retry wait."),
    ("executor_environment_variables", "json", None, None, "Environment passed to executors."),
    ("executor_registration_timeout", "duration", D("1mins"), None, "Executor registration timeout."),
    ("executor_reregistration_timeout", "duration", D("2secs"), None, "Executor reregistration timeout."),
    ("executor_reregistration_retry_interval", "duration", None, None, "Executor reconnect retry interval."),
    ("executor_shutdown_grace_period", "duration", D("5secs"), None, "Executor shutdown grace period."),
    ("jwt_secret_key", "path", None, "executor_secret_key", "JWT secret key file (SSL builds)."),
    ("gc_delay", "duration", D("1weeks"), None, "Maximum time before sandbox GC."),
    ("gc_disk_headroom", "double", 0.1, None, "Disk headroom for sandbox GC."),
    ("gc_non_executor_container_sandboxes", "bool", False, None, "GC nested container sandboxes."),
    ("disk_watch_interval", "duration", D("1mins"), None, "Disk usage check interval."),
    ("container_logger", _S, None, None, "Container logger module."),
    ("recover", _S, "reconnect", None, "reconnect or cleanup."),
    ("recovery_timeout", "duration", D("15mins"), None, "Time allotted for agent recovery."),
    ("reconfiguration_policy", _S, "equal", None, "equal or additive: allowed agent info changes on recovery."),
    ("strict", "bool", True, None, "Recovery errors are fatal."),
    ("max_completed_executors_per_framework", "uint", 150, None, "Completed executors kept per framework."),
    ("cgroups_destroy_timeout", "duration", D("1mins"), None, "Cgroup destroy timeout."),
    ("cgroups_hierarchy", _S, "/sys/fs/cgroup", None, "The path to the cgroups hierarchy root"),
    ("cgroups_root", _S, "mesos", None, "Name of the root cgroup"),
    ("cgroups_enable_cfs", "bool", False, None, "Hard CPU limits via CFS bandwidth control."),
    ("cgroups_limit_swap", "bool", False, None, "Limit memory and swap."),
    ("cgroups_cpu_enable_pids_and_tids_count", "bool", False, None, "Count processes and threads."),
    ("cgroups_net_cls_primary_handle", _S, None, None, "net_cls primary handle."),
    ("cgroups_net_cls_secondary_handles", _S, None, None, "net_cls secondary handles."),
    ("allowed_devices", "json", None, None, "Additional allowed devices."),
    ("agent_subsystems", _S, None, "slave_subsystems", "Cgroup subsystems for the agent itself."),
    ("host_path_volume_force_creation", _S, None, None, "Host path volume creation roots."),
    ("nvidia_gpu_devices", _S, None, None, "Nvidia GPU devices."),
    ("perf_events", _S, None, None, "perf events to sample."),
    ("perf_interval", "duration", D("1mins"), None, "perf sample interval."),
    ("perf_duration", "duration", D("10secs"), None, "perf sample duration."),
    ("revocable_cpu_low_priority", "bool", True, None, "Run revocable CPU at low priority."),
    ("systemd_enable_support", "bool", True, None, "Systemd support (executor life-time extension)."),
    ("systemd_runtime_directory", _S, "/run/systemd/system", None, "Systemd runtime directory."),
    ("effective_capabilities", "json", None, "allowed_capabilities", "Effective task capabilities."),
    ("bounding_capabilities", "json", None, None, "Bounding task capabilities."),
    ("default_container_shm_size", "bytes", None, None, "Default /dev/shm size."),
    ("disallow_sharing_agent_ipc_namespace", "bool", False, None, "Disallow sharing the agent IPC namespace."),
    ("disallow_sharing_agent_pid_namespace", "bool", False, None, "Disallow sharing the agent pid namespace."),
    ("agent_features", "json", None, None, "Agent features whitelist."),
    ("firewall_rules", "json", None, None, "Endpoint firewall rules."),
    ("credential", "path", None, None, "Path to a JSON credential to authenticate with the master."),
    ("acls", "json", None, None, "JSON ACLs or a path to them."),
    ("containerizers", _S, "mesos", None, "Comma-separated containerizers: mesos, docker."),
    ("docker", _S, "docker", None, "The absolute path to the docker executable."),
    ("docker_remove_delay", "duration", D("6hrs"), None, "Delay before removing docker containers."),
    ("docker_kill_orphans", "bool", True, None, "Kill orphaned docker containers."),
    ("docker_mesos_image", _S, None, None, "Docker image running this agent."),
    ("docker_socket", _S, "/var/run/docker.sock", None, "Docker daemon socket."),
    ("docker_config", "json", None, None, "Default docker config."),
    ("sandbox_directory", _S, "/mnt/mesos/sandbox", None, "Sandbox path inside containers."),
    ("domain_socket_location", _S, None, None, "Executor domain socket."),
    ("default_container_dns", "json", None, None, "Default container DNS."),
    ("default_container_info", "json", None, None, "Default ContainerInfo."),
    ("docker_stop_timeout", "duration", D("0ns"), None, "Deprecated docker stop timeout."),
    ("network_cni_plugins_dir", _S, None, None, "CNI plugin search path."),
    ("network_cni_config_dir", _S, None, None, "CNI network configs."),
    ("network_cni_root_dir_persist", "bool", False, None, "Persist the CNI root directory."),
    ("network_cni_metrics", "bool", True, None, "Expose CNI metrics."),
    ("container_disk_watch_interval", "duration", D("15secs"), None, "Disk quota check interval."),
    ("enforce_container_disk_quota", "bool", False, None, "Enforce disk quota."),
    ("modules", "json", None, None, "Modules to load (JSON or path)."),
    ("modules_dir", _S, None, None, "Directory of module manifests."),
    ("authenticatee", _S, "crammd5", None, "Authenticatee implementation."),
    ("authorizer", _S, "local", None, "Authorizer implementation."),
    ("http_authenticators", _S, None, None, "HTTP authenticator implementation."),
    ("authenticate_http_readwrite", "bool", False, None, "Authenticate read-write endpoints."),
    ("authenticate_http_readonly", "bool", False, None, "Authenticate read-only endpoints."),
    ("authenticate_http_executors", "bool", False, None, "Authenticate the executor API (SSL builds)."),
    ("http_executor_domain_sockets", "bool", False, None, "Executor domain sockets."),
    ("http_credentials", "path", None, None, "HTTP credentials file."),
    ("hooks", _S, None, None, "Hook modules to install."),
    ("secret_resolver", _S, None, None, "Secret resolver module."),
    ("resource_estimator", _S, None, None, "Resource estimator module."),
    ("qos_controller", _S, None, None, "QoS controller module."),
    ("qos_correction_interval_min", "duration", D("0ns"), None, "QoS correction interval."),
    ("oversubscribed_resources_interval", "duration", D("15secs"), None, "Oversubscription update interval."),
    ("master_detector", _S, None, None, "Master detector module (not with --master)."),
    ("xfs_project_range", _S, "[5000-10000]", None, "XFS project ids (XFS builds)."),
    ("xfs_kill_containers", "bool", False, None, "Kill containers over quota (XFS builds)."),
    ("seccomp_config_dir", _S, None, None, "Seccomp profiles (seccomp builds)."),
    ("seccomp_profile_name", _S, None, None, "Default seccomp profile (seccomp builds)."),
    ("http_command_executor", "bool", False, None, "HTTP command executor."),
    ("ip", _S, None, None, "IP address to listen on."),
    ("ip6", _S, None, None, "IPv6 address to advertise."),
    ("port", "uint16", 5051, None, "Port to listen on."),
    ("advertise_ip", _S, None, None, "IP address advertised to reach this agent."),
    ("advertise_port", _S, None, None, "Port advertised to reach this agent."),
    ("master", _S, None, None, "host:port, zk://[user:pass@]host1:port1,.../path or file:///path."),
    ("zk_session_timeout", "duration", D("10secs"), None, "ZooKeeper session timeout."),
    ("ip_discovery_command", _S, None, None, "IP discovery command (not with --ip)."),
    ("ip6_discovery_command", _S, None, None, "IPv6 discovery command."),
    ("memory_profiling", "bool", False, None, "Expose jemalloc memory profiling."),
    ("domain", "json", None, None, "Fault domain of the agent (JSON or path)."),
]


def _validate_logging_level(value: Any) -> str | None:
    # src/logging/flags.cpp
    if value not in ("INFO", "WARNING", "ERROR"):
        return f"'{value}' is not a valid value for logging_level. Valid values are INFO, WARNING and ERROR."
    return None


def _validate_ping_timeout(value: Any) -> str | None:
    # src/master/flags.cpp --agent_ping_timeout
    if value is not None and not 1e9 <= value.nanos <= 15 * 60e9:
        return "Expected `--agent_ping_timeout` to be between 1secs and 15mins"
    return None


def _validate_domain(value: Any) -> str | None:
    # src/master/flags.cpp and src/slave/flags.cpp --domain
    if value is not None and not (isinstance(value, dict) and "fault_domain" in value):
        return "`domain` must define `fault_domain`"
    return None


VALIDATORS: dict[str, dict[str, Callable[[Any], str | None]]] = {
    "master": {
        "logging_level": _validate_logging_level,
        "registry_strict": lambda v: (
            "Support for '--registry_strict' has been disabled and will be removed in a future version of Mesos"
            if v
            else None
        ),
        "agent_ping_timeout": _validate_ping_timeout,
        "domain": _validate_domain,
        "max_agent_ping_timeouts": lambda v: (
            "Expected `--max_agent_ping_timeouts` to be at least 1" if v is not None and v < 1 else None
        ),
    },
    "agent": {"logging_level": _validate_logging_level, "domain": _validate_domain},
}


def flag_specs(personality: str) -> list[Flag]:
    table = MASTER_FLAGS if personality == "master" else AGENT_FLAGS
    specs = [Flag("help", "bool", "Prints this help message", False)]
    for name, kind, default, alias, helptext in table + LOGGING_FLAGS:
        specs.append(
            Flag(
                name,
                kind,
                helptext,
                default,
                alias,
                required=(personality == "agent" and name == "work_dir"),
                validate=VALIDATORS[personality].get(name),
            )
        )
    return specs


# --------------------------------------------------------------------------------------------
# Common
# --------------------------------------------------------------------------------------------

MESOS_VERSION = "1.11.0"
# The double's marker: real Mesos reports who built the binary here (docs/endpoints, /version).
BUILD_USER = "orchestrator-platform-double"
BUILD_DATE = "2020-11-24 00:00:00"
BUILD_TIME = 1606176000.0
DOUBLE_BANNER = (
    "THIS IS A PROTOCOL DOUBLE of Apache Mesos {version} for tests and labs of the orchestrator.platform\n"
    "collection. It is NOT Apache Mesos: it elects masters through ZooKeeper and serves the HTTP\n"
    "endpoints the collection uses, but runs no tasks. See doubles/README.md."
)
# Capabilities of MasterInfo (include/mesos/mesos.proto, master.cpp), 1.11.
MASTER_CAPABILITIES = ["AGENT_UPDATE", "AGENT_DRAINING", "QUOTA_V2"]
# SlaveInfo capabilities an 1.11 agent always announces (src/slave/constants.cpp).
AGENT_CAPABILITIES = [
    "MULTI_ROLE",
    "HIERARCHICAL_ROLE",
    "RESERVATION_REFINEMENT",
    "RESOURCE_PROVIDER",
    "RESIZE_VOLUME",
    "AGENT_OPERATION_FEEDBACK",
    "AGENT_DRAINING",
    "TASK_RESOURCE_LIMITS",
]
MASTER_INFO_LABEL = "json.info"  # src/master/constants.hpp MASTER_INFO_JSON_LABEL
_SEQ_RE = re.compile(r"^json\.info_(\d{10})$")
# Internal channel between the double's agents and masters (NOT Mesos's libprocess protocol).
DOUBLE_AGENT_PATH = "/__double__/agent"


def log(msg: str, level: str = "I") -> None:
    # glog-like line on stderr.
    now = time.time()
    stamp = time.strftime("%m%d %H:%M:%S", time.localtime(now)) + f".{int((now % 1) * 1e6):06d}"
    sys.stderr.write(f"{level}{stamp} {os.getpid()} double] {msg}\n")
    sys.stderr.flush()


def die(msg: str) -> NoReturn:
    # stout EXIT(EXIT_FAILURE) << msg
    log(msg, "F")
    sys.stderr.flush()
    os._exit(1)


def pack_ip(ip: str) -> int:
    # MasterInfo.ip holds the IPv4 address in network order read as a host (little-endian)
    # uint32 (see MESOS-1201 in src/master/http.cpp): 127.0.1.1 -> 16842879.
    return int.from_bytes(socket.inet_aton(ip), "little")


def compact_json(obj: Any) -> str:
    # stout JSON stringify of a JSON::Object (a std::map): compact, keys sorted.
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def resolve_ip(flags: Flags) -> tuple[str, str]:
    """(bind ip, advertised ip) as libprocess picks them (LIBPROCESS_IP / _ADVERTISE_IP)."""
    bind_ip = flags["ip"] or "0.0.0.0"  # noqa: S104 - libprocess binds INADDR_ANY without --ip
    adv = flags["advertise_ip"] or flags["ip"]
    if not adv:
        try:
            adv = socket.gethostbyname(socket.gethostname())
        except OSError:
            adv = "127.0.0.1"
    return bind_ip, adv


def advertised_port(flags: Flags, port: int) -> int:
    # --advertise_port is a string flag that libprocess reads as LIBPROCESS_ADVERTISE_PORT.
    value = flags["advertise_port"]
    if value is None:
        return port
    if not value.isdigit() or int(value) > 65535:
        die(f"Failed to initialize: Unable to parse LIBPROCESS_ADVERTISE_PORT={value} as a port")
    return int(value)


def resolve_hostname(flags: Flags, ip: str) -> str:
    # master.cpp / slave.cpp: --hostname, else reverse lookup unless --no-hostname_lookup.
    if flags["hostname"]:
        return str(flags["hostname"])
    if flags["hostname_lookup"]:
        try:
            return socket.gethostbyaddr(ip)[0]
        except OSError:
            return ip
    return ip


@dataclass
class ZkUrl:
    """src/zookeeper/url.hpp URL::parse."""

    servers: str
    path: str
    credentials: str | None

    @staticmethod
    def parse(url: str) -> ZkUrl:
        s = url.strip()
        if not s.startswith("zk://"):
            raise ValueError("Expecting 'zk://' at the beginning of the URL")
        s = s[5:]
        path = ""
        while "/" in s:
            index = s.rfind("/")
            path = s[index:] + path
            s = s[:index]
        if path == "":
            path = "/"
        if "@" in s:
            index = s.rfind("@")
            return ZkUrl(s[index + 1 :], path, s[:index])
        return ZkUrl(s, path, None)


def zk_url_for_contender(value: str) -> ZkUrl:
    """src/master/contender/contender.cpp and detector.cpp: zk:// or file:// only."""
    if value.startswith("zk://"):
        url = ZkUrl.parse(value)
        if url.path == "/":
            raise ValueError("Expecting a (chroot) path for ZooKeeper ('/' is not supported)")
        return url
    if value.startswith("file://"):
        path = value[7:]
        try:
            with open(path, encoding="utf-8") as fh:
                return zk_url_for_contender(fh.read().strip())
        except OSError:
            raise ValueError(f"Failed to read from file at '{path}'") from None
    raise ValueError(f"Failed to parse '{value}'")


def make_zk_client(url: ZkUrl, session_timeout: float) -> Any:
    try:
        from kazoo.client import KazooClient  # noqa: PLC0415 - only personalities that need ZooKeeper
        from kazoo.retry import KazooRetry  # noqa: PLC0415
    except ImportError:
        die("The Mesos protocol double needs kazoo for ZooKeeper URLs (Debian: apt-get install python3-kazoo)")

    auth = [("digest", url.credentials)] if url.credentials else None
    return KazooClient(
        hosts=url.servers,
        timeout=max(session_timeout, 1.0),
        auth_data=auth,
        connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=1.0),
        command_retry=KazooRetry(max_tries=3, delay=0.1, max_delay=1.0),
    )


def zk_acl(url: ZkUrl) -> Any:
    # src/zookeeper/group.cpp: with credentials the group's znodes are EVERYONE_READ_CREATOR_ALL,
    # otherwise OPEN_ACL_UNSAFE.
    from kazoo.security import OPEN_ACL_UNSAFE, make_acl, make_digest_acl  # noqa: PLC0415

    if not url.credentials:
        return OPEN_ACL_UNSAFE
    user, _unused, password = url.credentials.partition(":")
    return [make_acl("world", "anyone", read=True), make_digest_acl(user, password, all=True)]


class ZkGroup:
    """A membership in a ZooKeeper group, as src/zookeeper/group.cpp keeps it.

    Membership is lost when the session expires, or when the client stays disconnected for
    longer than the session timeout (group.cpp forces a local expiration then).
    """

    def __init__(self, url: ZkUrl, session_timeout: float, on_lost: Callable[[], None]) -> None:
        self.url = url
        self.session_timeout = session_timeout
        self.on_lost = on_lost
        self.client = make_zk_client(url, session_timeout)
        self.acl = zk_acl(url)
        self._suspended_at: float | None = None
        self._lock = threading.Lock()
        self._expiring = False  # we are closing the session ourselves: its LOST is expected
        self._stopped = False
        self.client.add_listener(self._listener)
        self._timer = threading.Thread(target=self._watch_disconnection, daemon=True)

    def _connect(self) -> None:
        while True:
            try:
                self.client.start(timeout=max(self.session_timeout, 5.0))
                return
            except Exception as exc:
                log(f"Failed to connect to ZooKeeper {self.url.servers}: {exc}; retrying", "W")
                time.sleep(0.5)

    def start(self) -> None:
        self._connect()
        self._timer.start()

    def ensure_started(self) -> None:
        """After a forced expiration, open a new session (group.cpp creates a new ZooKeeper)."""
        if self._stopped:
            self._connect()
            self._stopped = False

    def _listener(self, state: str) -> None:
        with self._lock:
            if state == "SUSPENDED":
                self._suspended_at = time.monotonic()
            elif state == "CONNECTED":
                self._suspended_at = None
            elif state == "LOST":
                self._suspended_at = None
                if not self._expiring:
                    threading.Thread(target=self.on_lost, daemon=True).start()

    def _watch_disconnection(self) -> None:
        while True:
            time.sleep(0.1)
            with self._lock:
                since = self._suspended_at
                if since is None or time.monotonic() - since < self.session_timeout:
                    continue
                self._suspended_at = None
            log(
                f"Timed out waiting to reconnect to ZooKeeper (sessionTimeout={self.session_timeout}s): "
                "forcing ZooKeeper session expiration",
                "W",
            )
            # Abandon the session, so that no ephemeral node of it can come back with it.
            self._expiring = True
            try:
                self.client.stop()
            except Exception as exc:
                log(f"Failed to close the ZooKeeper session: {exc!r}", "W")
            finally:
                self._expiring = False
            self._stopped = True
            threading.Thread(target=self.on_lost, daemon=True).start()

    def ensure_path(self, path: str) -> None:
        self.client.ensure_path(path, acl=self.acl)

    def join(self, path: str, label: str | None, data: bytes) -> str:
        self.ensure_path(path)
        prefix = f"{path.rstrip('/')}/{label + '_' if label else ''}"
        return str(self.client.create(prefix, data, acl=self.acl, ephemeral=True, sequence=True))


def leader_from_children(client: Any, path: str, children: Sequence[str]) -> tuple[str | None, dict | None]:
    """The lowest-sequence 'json.info_' member (src/zookeeper/detector.cpp LeaderDetector)."""
    members = sorted((m.group(1), c) for c in children if (m := _SEQ_RE.match(c)))
    for _unused, child in members:
        try:
            data, _unused = client.get(f"{path.rstrip('/')}/{child}")
        except Exception as exc:  # the member vanished between list and get: try the next one
            log(f"Failed to read '{child}': {exc!r}", "W")
            continue
        try:
            return child, json.loads(data.decode("utf-8"))
        except ValueError:
            log(f"Failed to parse MasterInfo JSON of '{child}'", "W")
            return child, None
    return None, None


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


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def json(obj: Any, status: int = 200) -> Response:
        return Response(status, json.dumps(obj).encode(), "application/json")

    @staticmethod
    def text(status: int, text: str) -> Response:
        return Response(status, text.encode(), "text/plain; charset=utf-8")


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: Any
    body: bytes

    @property
    def url(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(bind_ip: str, port: int, route: Callable[[Request], Response]) -> Server:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "Mesos-double"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path, _unused, query = self.path.partition("?")
            req = Request(self.command, path, query, self.headers, body)
            try:
                resp = route(req)
            except Exception as exc:
                log(f"Internal error on {self.command} {self.path}: {exc!r}", "E")
                resp = Response.text(500, str(exc))
            self.send_response(resp.status)
            if resp.content_type:
                self.send_header("Content-Type", resp.content_type)
            for key, value in resp.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(resp.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(resp.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

        def log_message(self, format: str, *args: Any) -> None:
            return

    try:
        server = Server((bind_ip, port), Handler)
    except OSError as exc:
        die(f"Failed to initialize: Failed to bind on {bind_ip}:{port}: {exc.strerror}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def http_json(method: str, url: str, obj: Any, timeout: float = 3.0) -> tuple[int, Any]:
    """Small HTTP/JSON client for the double's own agent<->master channel."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    try:
        body = json.dumps(obj).encode()
        conn.request(method, parts.path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        try:
            return resp.status, json.loads(data) if data else None
        except ValueError:
            return resp.status, data.decode("utf-8", "replace")
    finally:
        conn.close()


def version_json() -> dict:
    # src/version/version.hpp VersionProcess: build_date, build_time, build_user, version
    # (git_* only when built from git).
    return {
        "build_date": BUILD_DATE,
        "build_time": BUILD_TIME,
        "build_user": BUILD_USER,
        "version": MESOS_VERSION,
    }


def v1_version() -> dict:
    return {"version_info": version_json()}


def v1_flags(flags: Flags) -> dict:
    return {"flags": [{"name": k, "value": v} for k, v in flags.as_strings().items()]}


def method_not_allowed(allowed: Sequence[str], method: str) -> Response:
    # libprocess http::MethodNotAllowed(allowedMethods, requestMethod)
    body = "Expecting one of { " + ", ".join(f"'{m}'" for m in allowed) + f" }}, but received '{method}'"
    return Response(405, body.encode(), "text/plain; charset=utf-8", {"Allow": ", ".join(allowed)})


def v1_check_request(req: Request, kind: str = "master") -> tuple[Response | None, dict | None]:
    """Request checks of src/master/http.cpp Master::Http::api, in upstream's order."""
    if req.method != "POST":
        return method_not_allowed(["POST"], req.method), None
    ctype = req.headers.get("Content-Type")
    if ctype is None:
        return Response.text(400, "Expecting 'Content-Type' to be present"), None
    if ctype == "application/x-protobuf":
        # The double cannot decode protobuf (simplification, see doubles/README.md).
        return Response.text(415, "The Mesos protocol double only speaks application/json"), None
    if ctype != "application/json":
        return Response.text(415, "Expecting 'Content-Type' of application/json or application/x-protobuf"), None
    try:
        call = json.loads(req.body.decode("utf-8"))
    except ValueError as exc:
        return Response.text(400, f"Failed to parse body into JSON: {exc}"), None
    if not isinstance(call, dict):
        return Response.text(400, "Failed to convert JSON into Call protobuf: Expecting a JSON object"), None
    if not isinstance(call.get("type"), str):
        return Response.text(400, f"Failed to validate {kind}::Call: Expecting 'type' to be present"), None
    accept = req.headers.get("Accept")
    if accept and not any(
        a.split(";")[0].strip() in ("application/json", "*/*", "application/*") for a in accept.split(",")
    ):
        return Response.text(406, "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'"), None
    return None, call


def drop_empty(obj: Any) -> Any:
    """JSON::protobuf leaves out empty repeated fields (and unset optional ones)."""
    if isinstance(obj, dict):
        out = {}
        for key, raw in obj.items():
            value = drop_empty(raw)
            if value is None or (isinstance(value, list) and not value):
                continue
            out[key] = value
        return out
    if isinstance(obj, list):
        return [drop_empty(v) for v in obj]
    return obj


# --------------------------------------------------------------------------------------------
# Master personality
# --------------------------------------------------------------------------------------------

# Endpoints that a non-leading master answers with 307 to the leader (503 without a leader):
# every handler of src/master/http.cpp that starts with `if (!master->elected()) return
# redirect(request);` (development head). /flags, /health, /redirect itself and the libprocess
# endpoints (/metrics/snapshot, /version) are answered by every master.
REDIRECTING = {
    "/state",
    "/state.json",
    "/slaves",
    "/slaves.json",
    "/frameworks",
    "/frameworks.json",
    "/tasks",
    "/tasks.json",
    "/roles",
    "/roles.json",
    "/api/v1",
    "/api/v1/scheduler",
    "/state-summary",
    "/maintenance/schedule",
    "/maintenance/status",
    "/machine/down",
    "/machine/up",
    "/create-volumes",
    "/destroy-volumes",
    "/reserve",
    "/unreserve",
    "/quota",
    "/teardown",
    "/weights",
}


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


class Master:
    def __init__(self, flags: Flags) -> None:
        self.flags = flags
        self.start_time = time.time()
        self.id = str(uuid.uuid4())
        self.bind_ip, self.ip = resolve_ip(flags)
        self.port = int(flags["port"])
        self.port_advertised = advertised_port(flags, self.port)
        self.hostname = resolve_hostname(flags, self.ip)
        self.pid = f"master@{self.ip}:{self.port_advertised}"
        self.info = {
            "address": {"hostname": self.hostname, "ip": self.ip, "port": self.port_advertised},
            "capabilities": [{"type": c} for c in MASTER_CAPABILITIES],
            "hostname": self.hostname,
            "id": self.id,
            "ip": pack_ip(self.ip),
            "pid": self.pid,
            "port": self.port_advertised,
            "version": MESOS_VERSION,
        }
        if flags["domain"] is not None:
            self.info["domain"] = flags["domain"]
        self.lock = threading.RLock()
        self.leader: dict | None = None
        self.elected_time: float | None = None
        self.recovered = False
        self.membership: str | None = None
        self.agents: dict[str, dict] = {}
        self.unreachable: dict[str, float] = {}
        self.next_agent = 0
        # The master's agent counters of src/master/metrics.cpp, shown as master/<name>.
        self.counters = dict.fromkeys(
            (
                "slave_registrations",
                "slave_reregistrations",
                "slave_removals",
                "slave_removals/reason_registered",
                "slave_removals/reason_unhealthy",
                "slave_removals/reason_unregistered",
                "slave_unreachable_scheduled",
                "slave_unreachable_completed",
                "slave_unreachable_canceled",
            ),
            0,
        )
        # machine_key(MachineID) -> {"id" (the MachineID it was first known by), "mode"
        # UP/DRAINING/DOWN, "unavailability"}
        self.machines: dict[tuple[str, str], dict] = {}
        self.shutdown: set[str] = set()  # agents removed by "Machine DOWN"
        self.schedule: dict = {}
        self.zk: ZkGroup | None = None
        self._lost_lock = threading.Lock()
        self._contend_lock = threading.Lock()
        self.url: ZkUrl | None = None
        self.log_replicas = 0

    # ---- start-up, as src/master/main.cpp orders its checks ---------------------------------
    def validate(self) -> None:
        f = self.flags
        if f["ip_discovery_command"] and f["ip"]:
            die("Only one of `--ip` or `--ip_discovery_command` should be specified")
        if f["zk"] is None:
            if bool(f["master_contender"]) != bool(f["master_detector"]):
                die("Both --master_contender and --master_detector should be specified or omitted.")
        elif f["master_contender"] or f["master_detector"]:
            die("Only one of --zk or the --master_contender/--master_detector pair should be specified.")
        if f["modules"] is not None and f["modules_dir"]:
            die("Only one of --modules or --modules_dir should be specified")
        if f["master_contender"] or f["master_detector"] or f["modules"] is not None or f["modules_dir"]:
            die("Error loading modules: modules are not supported by the Mesos protocol double")
        if f["registry"] == "in_memory":
            pass
        elif f["registry"] in ("replicated_log", "log_storage"):
            if f["work_dir"] is None:
                die("--work_dir needed for replicated log based registry")
            try:
                os.makedirs(f["work_dir"], exist_ok=True)
            except OSError as exc:
                die(f"Failed to create work directory '{f['work_dir']}': {exc.strerror}")
            if f["zk"] is not None:
                if f["quorum"] is None:
                    die("Need to specify --quorum for replicated log based registry when using ZooKeeper")
                try:
                    ZkUrl.parse(f["zk"])
                except ValueError as exc:
                    die(f"Error parsing ZooKeeper URL: {exc}")
            # The double keeps a marker where the replicated log would live.
            os.makedirs(os.path.join(f["work_dir"], "replicated_log"), exist_ok=True)
        else:
            die(f"'{f['registry']}' is not a supported option for registry persistence")
        if f["zk"] is not None:
            try:
                self.url = zk_url_for_contender(f["zk"])
            except ValueError as exc:
                die(f"Failed to create a master contender: {exc}")
        if f["agent_removal_rate_limit"]:
            tokens = [t for t in f["agent_removal_rate_limit"].split("/") if t]
            fmt = (
                f"Invalid agent_removal_rate_limit: {f['agent_removal_rate_limit']}. "
                "Format is <Number of agents>/<Duration>"
            )
            if len(tokens) != 2:
                die(fmt)
            try:
                numify_int(tokens[0])
                parse_duration(tokens[1])
            except FlagError as exc:
                die(f"{fmt}: {exc}")
        if f["agent_reregister_timeout"].nanos < 600e9:
            # src/master/master.cpp Master::initialize
            die(
                f"Invalid value '{f['agent_reregister_timeout']}' for --agent_reregister_timeout: "
                "Expected --agent_reregister_timeout to be at least 10mins"
            )
        if f["credentials"] is not None:
            path = f["credentials"][7:] if f["credentials"].startswith("file://") else f["credentials"]
            try:
                with open(path, encoding="utf-8") as fh:
                    creds = json.load(fh)
                if not isinstance(creds, dict) or not isinstance(creds.get("credentials"), list):
                    raise ValueError("Expecting 'credentials' to be a JSON array")
            except (OSError, ValueError) as exc:
                die(f"Failed to read credentials file '{path}': {exc}")
        elif f["authenticate_frameworks"] or f["authenticate_agents"]:
            # Master::initialize: authentication needs credentials.
            die("Authentication requires a credentials file (see --credentials flag)")

    def run(self) -> None:
        self.validate()
        log(DOUBLE_BANNER.format(version=MESOS_VERSION).replace("\n", " "))
        log(f"Master {self.id} ({self.hostname}) started on {self.ip}:{self.port}")
        log("Flags at startup: " + " ".join(f'--{k}="{v}"' for k, v in self.flags.as_strings().items()))
        if self.url is None:
            # Standalone contender/detector (no --zk): this master leads at once; its replicated
            # log, if any, is a quorum of one.
            with self.lock:
                self.leader = self.info
                self.elected_time = time.time()
                self.recovered = True
            log("Elected as the leading master (standalone)!")
        serve(self.bind_ip, self.port, self.route)
        threading.Thread(target=self._ping_checker, daemon=True).start()
        if self.url is not None:
            self._start_zk()
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        while True:
            time.sleep(3600)

    # ---- ZooKeeper contender / detector -------------------------------------------------------
    def _start_zk(self) -> None:
        assert self.url is not None
        timeout = self.flags["zk_session_timeout"].secs
        self.zk = ZkGroup(self.url, timeout, self._membership_lost)
        self.zk.start()
        self._contend()
        if self.flags["registry"] != "in_memory":
            self._join_log_replicas()
        else:
            self.recovered = True
        self.zk.client.ChildrenWatch(self.url.path, self._children_changed)

    def _join_log_replicas(self) -> None:
        # src/master/main.cpp: the registrar's replicated log finds its peers in the group
        # '<zk path>/log_replicas' (unlabelled members, data = the replica's UPID).
        assert self.zk is not None and self.url is not None
        path = self.url.path.rstrip("/") + "/log_replicas"
        self.zk.join(path, None, f"log-replica(1)@{self.ip}:{self.port_advertised}".encode())

        def replicas(children: list[str]) -> None:
            self.log_replicas = len(children)
            if not self.recovered and self.log_replicas >= int(self.flags["quorum"]):
                self.recovered = True
                log(f"Replicated log recovered: {self.log_replicas} replicas, quorum {self.flags['quorum']}")

        self.zk.client.ChildrenWatch(path, replicas)

    def _contend(self) -> None:
        # One candidacy at a time (zookeeper/contender.cpp): a second caller waits for the first
        # and then finds the membership already there.
        assert self.zk is not None and self.url is not None
        with self._contend_lock:
            while self.membership is None:
                try:
                    node = self.zk.join(self.url.path, MASTER_INFO_LABEL, compact_json(self.info).encode())
                except Exception as exc:
                    log(f"Failed to contend: {exc!r}; retrying", "W")
                    time.sleep(0.5)
                    continue
                with self.lock:
                    self.membership = node.rsplit("/", 1)[1]
                log(f"Contending for leadership as {node}")

    def _membership_lost(self) -> None:
        # src/master/master.cpp Master::lostCandidacy
        if not self._lost_lock.acquire(blocking=False):
            return  # already contending again
        try:
            with self.lock:
                leading = self.leader is not None and self.leader.get("id") == self.id
                self.membership = None
            if leading:
                die("Lost candidacy as a leader... committing suicide!")
            log("Lost candidacy as a follower... Contending again")
            assert self.zk is not None
            self.zk.ensure_started()
            self._contend()
            if self.flags["registry"] != "in_memory":
                try:
                    self._join_log_replicas()
                except Exception as exc:
                    log(f"Failed to rejoin log replicas: {exc}", "W")
        finally:
            self._lost_lock.release()

    def _children_changed(self, children: list[str]) -> None:
        assert self.zk is not None and self.url is not None
        member = self.membership
        if member is not None and member not in children and self.zk.client.connected:
            # Our own member vanished while the session lives (deleted by someone)?
            try:
                gone = self.zk.client.exists(f"{self.url.path.rstrip('/')}/{member}") is None
            except Exception:
                gone = False
            if gone and member == self.membership:
                threading.Thread(target=self._membership_lost, daemon=True).start()
        _unused, info = leader_from_children(self.zk.client, self.url.path, children)
        with self.lock:
            was_leading = self.leader is not None and self.leader.get("id") == self.id
            self.leader = info
            leading = info is not None and info.get("id") == self.id
            if was_leading and not leading:
                # src/master/master.cpp Master::detected
                die("Lost leadership... committing suicide!")
            if leading and not was_leading:
                self.elected_time = time.time()
                log("Elected as the leading master!")
                threading.Thread(target=self._recover_registrar, daemon=True).start()
            elif info is None:
                log("No master detected")
            elif not leading:
                log(f"The newly elected leader is {info.get('pid')} with id {info.get('id')}")

    def _recover_registrar(self) -> None:
        # src/master/registrar.cpp: the elected master must fetch the registry from a quorum
        # of log replicas within --registry_fetch_timeout, else master.cpp exits.
        deadline = time.monotonic() + self.flags["registry_fetch_timeout"].secs
        while time.monotonic() < deadline:
            if self.recovered:
                return
            time.sleep(0.1)
        if not self.recovered:
            die(
                "Recovery failed: Failed to recover registrar: Failed to perform fetch within "
                f"{self.flags['registry_fetch_timeout']}"
            )

    # ---- agents (the double's own channel) ------------------------------------------------------
    def elected(self) -> bool:
        return self.leader is not None and self.leader.get("id") == self.id

    def _ping_checker(self) -> None:
        # Agents that stop pinging for agent_ping_timeout * max_agent_ping_timeouts are marked
        # unreachable and removed (master.cpp SlaveObserver), simplified to a timer.
        # SlaveObserver::markUnreachable counts slave_unreachable_scheduled, _markUnreachable
        # slave_unreachable_completed; Master::markUnreachable then drops the agent through
        # __removeSlave, which does NOT count master/slave_removals (only _removeSlave does).
        while True:
            time.sleep(0.2)
            limit = self.flags["agent_ping_timeout"].secs * int(self.flags["max_agent_ping_timeouts"])
            now = time.monotonic()
            with self.lock:
                for agent_id, agent in list(self.agents.items()):
                    if now - agent["last_ping"] > limit:
                        log(f"Agent {agent_id} failed health check; marking unreachable")
                        del self.agents[agent_id]
                        self.unreachable[agent_id] = time.time()
                        self.counters["slave_unreachable_scheduled"] += 1
                        self.counters["slave_unreachable_completed"] += 1

    def _remove_agent(self, agent_id: str, cause: str, reason: str | None = None) -> None:
        # Master::removeSlave / _removeSlave: the agent leaves `slaves` (no ShutdownMessage is
        # sent from here), master/slave_removals counts it, and so does the reason's counter
        # (master/slave_removals/reason_*) when the caller gives one.
        log(f"Removing agent {agent_id}: {cause}")
        del self.agents[agent_id]
        self.counters["slave_removals"] += 1
        if reason is not None:
            self.counters[f"slave_removals/{reason}"] += 1

    def agent_channel(self, req: Request) -> Response:
        action = req.path[len(DOUBLE_AGENT_PATH) + 1 :]
        if not self.elected():
            return Response.json({"error": "not the leading master"}, 409)
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            return Response.text(400, "bad JSON")
        with self.lock:
            if action == "register":
                info = body["info"]
                agent_id = info.get("id", {}).get("value")
                pid = body["pid"]
                incarnation = body.get("incarnation")
                # master.cpp _registerSlave/_reregisterSlave: an agent's MachineID is its
                # hostname and the IP of its pid, matched with MachineID's operator== (hostname in
                # any case); a machine in DOWN mode gets a ShutdownMessage instead.
                machine = {"hostname": info["hostname"], "ip": pid.split("@", 1)[1].rsplit(":", 1)[0]}
                key = machine_key(machine)
                if self.machines.get(key, {}).get("mode") == "DOWN":
                    log(
                        f"Refusing {'re-' if agent_id else ''}registration of agent at {pid} because the machine "
                        f"'{machine['hostname']} ({machine['ip']})' that it is running on is `DOWN`",
                        "W",
                    )
                    return Response.json({"shutdown": "Machine is `DOWN`"}, 403)
                # Master::addSlave: `machines[slave->machineId]` keeps an existing entry (and its key).
                self.machines.setdefault(key, {"id": machine, "mode": "UP"})
                if not agent_id:
                    # Master::_registerSlave: "Check if this slave is already registered (because
                    # it retries)", by pid. A connected one gets its SlaveRegisteredMessage again;
                    # a disconnected one is removed (reason_registered) and the newcomer gets a
                    # NEW agent id. A new agent process at that address means the old one is gone:
                    # its libprocess link broke and Master::exited disconnected it, which the
                    # double learns from the changed per-process `incarnation`.
                    same = next(((i, a) for i, a in self.agents.items() if a["pid"] == pid), None)
                    if same is not None:
                        old_id, old = same
                        if old["connected"] and old.get("incarnation") != incarnation:
                            log(f"Agent {old_id} at {pid} disconnected (a new agent process is at its address)")
                            old["connected"] = old["active"] = False
                        if old["connected"]:
                            log(f"Agent {old_id} at {pid} already registered, resending acknowledgement")
                            return Response.json({"id": old_id, "master_id": self.id})
                        log(
                            f"Removing old disconnected agent {old_id} at {pid} ({old['info']['hostname']}) "
                            "because a registration attempt occurred"
                        )
                        self._remove_agent(old_id, "a new agent registered at the same address", "reason_registered")
                self.shutdown.discard(agent_id or "")
                if agent_id:
                    self.counters["slave_reregistrations"] += 1
                    reregistered = True
                else:
                    agent_id = f"{self.id}-S{self.next_agent}"
                    self.next_agent += 1
                    self.counters["slave_registrations"] += 1
                    reregistered = False
                info = dict(info, id={"value": agent_id})
                now = time.time()
                old = self.agents.get(agent_id, {})
                self.agents[agent_id] = {
                    "info": info,
                    "machine": key,
                    "pid": body["pid"],
                    "version": body.get("version", MESOS_VERSION),
                    "capabilities": body.get("capabilities", []),
                    "registered_time": old.get("registered_time", now),
                    "reregistered_time": now if reregistered else None,
                    "active": True,
                    "connected": True,
                    "last_ping": time.monotonic(),
                    "incarnation": incarnation,
                }
                self.unreachable.pop(agent_id, None)
                log(f"{'Re-registered' if reregistered else 'Registered'} agent {agent_id} at {body['pid']}")
                return Response.json({"id": agent_id, "master_id": self.id})
            agent_id = body.get("id")
            agent = self.agents.get(agent_id or "")
            if agent_id in self.shutdown:
                # The ShutdownMessage of _startMaintenance, delivered once on the agent's next call.
                self.shutdown.discard(agent_id)
                return Response.json({"shutdown": "Operator initiated 'Machine DOWN'"}, 403)
            if agent is None:
                return Response.json({"error": "unknown agent"}, 404)
            if action == "ping":
                agent["last_ping"] = time.monotonic()
                if not agent["connected"]:
                    agent["connected"] = agent["active"] = True
                return Response.json({"ok": True})
            if action == "disconnect":
                # Master::exited: a disconnected agent is deactivated, kept until health checks fail.
                agent["connected"] = agent["active"] = False
                log(f"Agent {agent_id} disconnected")
                return Response.json({"ok": True})
        return Response.text(404, "")

    # ---- models ---------------------------------------------------------------------------------
    def agent_v0(self, agent_id: str, agent: dict) -> dict:
        info = agent["info"]
        resources = info["resources"]
        model = {
            "id": agent_id,
            "pid": agent["pid"],
            "hostname": info["hostname"],
            "port": info["port"],
            "registered_time": agent["registered_time"],
            "resources": resources_v0(resources),
            "used_resources": resources_v0([]),
            "offered_resources": resources_v0([]),
            "reserved_resources": {},
            "unreserved_resources": resources_v0(resources),
            "attributes": attributes_v0(info.get("attributes", [])),
            "active": agent["active"],
            "deactivated": not agent["active"],
            "version": agent["version"],
            "capabilities": agent["capabilities"],
            "reserved_resources_full": {},
            "unreserved_resources_full": resources,
            "used_resources_full": [],
            "offered_resources_full": [],
        }
        if agent["reregistered_time"] is not None:
            model["reregistered_time"] = agent["reregistered_time"]
        return model

    def agent_v1(self, agent_id: str, agent: dict) -> dict:
        info = agent["info"]
        return drop_empty(
            {
                "active": agent["active"],
                "agent_info": info,
                "pid": agent["pid"],
                "registered_time": {"nanoseconds": int(agent["registered_time"] * 1e9)},
                "reregistered_time": (
                    {"nanoseconds": int(agent["reregistered_time"] * 1e9)} if agent["reregistered_time"] else None
                ),
                "total_resources": info["resources"],
                "version": agent["version"],
                "capabilities": [{"type": c} for c in agent["capabilities"]],
                "deactivated": not agent["active"],
            }
        )

    def state(self) -> dict:
        with self.lock:
            agents = [self.agent_v0(i, a) for i, a in sorted(self.agents.items())]
            active = sum(1 for a in self.agents.values() if a["active"])
            state: dict[str, Any] = {
                **version_json(),
                "start_time": self.start_time,
                "id": self.id,
                "pid": self.pid,
                "hostname": self.hostname,
                "capabilities": list(MASTER_CAPABILITIES),
                "activated_slaves": active,
                "deactivated_slaves": len(self.agents) - active,
                "unreachable_slaves": len(self.unreachable),
                "flags": self.flags.as_strings(),
                "slaves": agents,
                "recovered_slaves": [],
                "frameworks": [],
                "completed_frameworks": [],
                "unregistered_frameworks": [],
            }
            if self.elected_time is not None and self.elected():
                state["elected_time"] = self.elected_time
            if self.flags["cluster"]:
                state["cluster"] = self.flags["cluster"]
            if self.leader is not None:
                # http.cpp json(JSON::ObjectWriter*, const MasterInfo&): id, pid, port, hostname.
                state["leader"] = self.leader["pid"]
                state["leader_info"] = {
                    k: self.leader[k] for k in ("hostname", "id", "pid", "port") if k in self.leader
                }
            if self.flags["log_dir"]:
                state["log_dir"] = self.flags["log_dir"]
            if self.flags["external_log_file"]:
                state["external_log_file"] = self.flags["external_log_file"]
            return state

    def metrics(self) -> dict:
        with self.lock:
            active = sum(1 for a in self.agents.values() if a["active"])
            connected = sum(1 for a in self.agents.values() if a["connected"])
            res = [r for a in self.agents.values() for r in a["info"]["resources"]]
            m: dict[str, float] = {
                "master/elected": 1.0 if self.elected() else 0.0,
                "master/uptime_secs": time.time() - self.start_time,
                "master/slaves_active": float(active),
                "master/slaves_inactive": float(len(self.agents) - active),
                "master/slaves_connected": float(connected),
                "master/slaves_disconnected": float(len(self.agents) - connected),
                "master/slaves_unreachable": float(len(self.unreachable)),
                **{f"master/{name}": float(count) for name, count in self.counters.items()},
                "master/frameworks_active": 0.0,
                "master/frameworks_inactive": 0.0,
                "master/frameworks_connected": 0.0,
                "master/frameworks_disconnected": 0.0,
                "master/outstanding_offers": 0.0,
                "master/event_queue_messages": 0.0,
                "master/event_queue_dispatches": 0.0,
                "master/event_queue_http_requests": 0.0,
            }
            for state in (
                "staging",
                "starting",
                "running",
                "killing",
                "finished",
                "failed",
                "killed",
                "lost",
                "error",
                "dropped",
                "unreachable",
                "gone",
                "gone_by_operator",
            ):
                m[f"master/tasks_{state}"] = 0.0
            for kind in ("cpus", "mem", "disk", "gpus"):
                total = sum(r["scalar"]["value"] for r in res if r["name"] == kind and r["type"] == "SCALAR")
                m[f"master/{kind}_total"] = total
                m[f"master/{kind}_used"] = 0.0
                m[f"master/{kind}_percent"] = 0.0
                m[f"master/{kind}_revocable_total"] = 0.0
                m[f"master/{kind}_revocable_used"] = 0.0
                m[f"master/{kind}_revocable_percent"] = 0.0
            if self.flags["registry"] != "in_memory":
                m["registrar/log/recovered"] = 1.0 if self.recovered else 0.0
                m["registrar/log/ensemble_size"] = float(self.log_replicas if self.url else 1)
            m["registrar/queued_operations"] = 0.0
            m["registrar/registry_size_bytes"] = 0.0
            m["system/cpus_total"] = float(os.cpu_count() or 1)
            m["system/load_1min"], m["system/load_5min"], m["system/load_15min"] = os.getloadavg()
            return dict(sorted(m.items()))

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

    # ---- HTTP routing ----------------------------------------------------------------------------
    def redirect(self, req: Request, path: str) -> Response:
        # src/master/http.cpp Master::Http::redirect
        leader = self.leader
        if leader is None:
            return Response.text(503, "No leader elected")
        hostname = leader.get("hostname") or socket.inet_ntoa(int(leader["ip"]).to_bytes(4, "little"))
        base = f"//{hostname}:{leader['port']}"
        if path == "/redirect":
            return Response(307, b"", None, {"Location": base})
        if path.startswith("/redirect/"):
            return Response(404)
        return Response(307, b"", None, {"Location": base + req.url})

    def route(self, req: Request) -> Response:
        if req.path.startswith(DOUBLE_AGENT_PATH + "/"):
            return self.agent_channel(req)
        if req.path == "/metrics/snapshot":
            return Response.json(self.metrics())
        if req.path == "/version":
            return Response.json(version_json())
        if req.path in ("/health", "/master/health"):
            return Response(200)
        path = req.path[len("/master") :] if req.path.startswith("/master/") else req.path
        if path == "/redirect" or path.startswith("/redirect/"):
            return self.redirect(req, path)
        if path in REDIRECTING and not self.elected():
            return self.redirect(req, path)
        if path in ("/state", "/state.json"):
            return Response.json(self.state())
        if path in ("/flags", "/flags.json"):
            return Response.json({"flags": self.flags.as_strings()})
        if path in ("/slaves", "/slaves.json"):
            with self.lock:
                return Response.json(
                    {
                        "slaves": [self.agent_v0(i, a) for i, a in sorted(self.agents.items())],
                        "recovered_slaves": [],
                    }
                )
        if path in ("/frameworks", "/frameworks.json"):
            return Response.json({"frameworks": [], "completed_frameworks": [], "unregistered_frameworks": []})
        if path in ("/tasks", "/tasks.json"):
            return Response.json({"tasks": []})
        if path in ("/roles", "/roles.json"):
            return Response.json({"roles": []})
        if path == "/state-summary":
            state = self.state()
            return Response.json({k: state[k] for k in ("hostname", "cluster", "slaves", "frameworks") if k in state})
        if path == "/maintenance/schedule":
            return self.http_schedule(req)
        if path == "/maintenance/status":
            if req.method != "GET":
                return method_not_allowed(["GET"], req.method)
            with self.lock:
                return Response.json(self.maintenance_status())
        if path in ("/machine/down", "/machine/up"):
            if req.method != "POST":
                return method_not_allowed(["POST"], req.method)
            try:
                ids = json.loads(req.body)
            except ValueError as exc:
                return Response.text(400, f"Failed to parse JSON: {exc}")
            with self.lock:
                error = self.machines_transition(ids, down=path == "/machine/down")
            return error or Response(200)
        if path == "/api/v1":
            return self.api(req)
        return Response(404)

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
            elif kind == "GET_AGENTS":
                result = self.v1_agents()
            elif kind == "GET_STATE":
                result = {
                    "get_tasks": {},
                    "get_executors": {},
                    "get_frameworks": {},
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


# --------------------------------------------------------------------------------------------
# Agent personality
# --------------------------------------------------------------------------------------------

# Isolator names the Mesos containerizer knows (src/slave/containerizer/mesos/containerizer.cpp).
KNOWN_ISOLATORS = {
    "filesystem/posix", "filesystem/linux", "filesystem/shared", "filesystem/windows",
    "posix/cpu", "posix/mem", "posix/disk", "posix/rlimits", "disk/du", "disk/xfs",
    "cgroups/all", "cgroups/blkio", "cgroups/cpu", "cgroups/cpuset", "cgroups/devices",
    "cgroups/hugetlb", "cgroups/mem", "cgroups/net_cls", "cgroups/net_prio", "cgroups/perf_event",
    "cgroups/pids", "appc/runtime", "docker/runtime", "docker/volume", "linux/devices",
    "linux/capabilities", "linux/nnp", "linux/seccomp", "namespaces/ipc", "namespaces/pid",
    "network/cni", "network/port_mapping", "network/ports", "gpu/nvidia", "volume/host_path",
    "volume/image", "volume/sandbox_path", "volume/secret", "volume/csi", "environment_secret",
    "windows/cpu", "windows/mem",
}  # fmt: skip
# cgroups isolator -> cgroup v1 subsystems it needs (src/slave/containerizer/mesos/isolators/
# cgroups/constants.hpp and cgroups.cpp).
CGROUPS_SUBSYSTEMS = {
    "cgroups/blkio": ["blkio"],
    "cgroups/cpu": ["cpu", "cpuacct"],
    "cgroups/cpuset": ["cpuset"],
    "cgroups/devices": ["devices"],
    "cgroups/hugetlb": ["hugetlb"],
    "cgroups/mem": ["memory"],
    "cgroups/net_cls": ["net_cls"],
    "cgroups/net_prio": ["net_prio"],
    "cgroups/perf_event": ["perf_event"],
    "cgroups/pids": ["pids"],
}


def docker_ping(socket_path: str, timeout: float = 3.0) -> str | None:
    """A real `GET /_ping` on the Docker engine's unix socket; None when it answers OK."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(socket_path)
        sock.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data and data.endswith(b"OK"):
                break
    except OSError as exc:
        return f"Cannot connect to the Docker daemon at unix://{socket_path}: {exc.strerror or exc}"
    finally:
        sock.close()
    status = data.split(b"\r\n", 1)[0]
    if b" 200 " not in status + b" ":
        return f"Docker daemon at unix://{socket_path} answered '{status.decode('latin-1')}' to /_ping"
    return None


def check_cgroup_subsystem(hierarchy: str, subsystem: str) -> str | None:
    """What cgroups::prepare() needs: a cgroup v1 hierarchy '<hierarchy>/<subsystem>'."""
    mount = os.path.join(hierarchy, subsystem)
    if os.path.isfile(os.path.join(mount, "cgroup.procs")):
        return None
    if os.path.isfile(os.path.join(hierarchy, "cgroup.controllers")):
        # Mesos 1.x's cgroups isolators speak cgroup v1 only: a unified (v2) hierarchy is not
        # usable (the double refuses it, as the real agent fails to prepare the hierarchy).
        return (
            f"'{hierarchy}' is a cgroup v2 (unified) hierarchy; the cgroups isolator needs a cgroup v1 "
            f"hierarchy for subsystem '{subsystem}' at '{mount}'"
        )
    return f"Failed to mount cgroups hierarchy at '{mount}': '{subsystem}' is not available"


def write_atomically(path: str, data: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(data)
    os.replace(tmp, path)


class Agent:
    def __init__(self, flags: Flags) -> None:
        self.flags = flags
        self.start_time = time.time()
        self.bind_ip, self.ip = resolve_ip(flags)
        self.port = int(flags["port"])
        self.port_advertised = advertised_port(flags, self.port)
        self.hostname = resolve_hostname(flags, self.ip)
        self.pid = f"slave(1)@{self.ip}:{self.port_advertised}"
        self.lock = threading.RLock()
        self.agent_id: str | None = None
        self.master: dict | None = None  # MasterInfo of the detected leader
        self.registered_with: str | None = None  # master id we are registered with
        self.info: dict = {}
        self.meta_dir = os.path.join(flags["work_dir"], "meta")
        self.url: ZkUrl | None = None
        self.static_master: tuple[str, int] | None = None
        self.zk: Any = None
        self.counters = {"registered": 0.0, "recovery_errors": 0.0}
        # Tells the master which process is behind the pid (see Master.agent_channel): a
        # restarted agent has a new one, as a new libprocess link would.
        self.incarnation = uuid.uuid4().hex

    # ---- start-up (src/slave/main.cpp, slave.cpp) ---------------------------------------------
    def validate(self) -> None:
        f = self.flags
        if f["master"] is None and f["master_detector"] is None:
            die("Missing required option `--master` or `--master_detector`")
        if f["master"] is not None and f["master_detector"] is not None:
            die("Only one of `--master` or `--master_detector` should be specified")
        if f["ip_discovery_command"] and f["ip"]:
            die("Only one of `--ip` or `--ip_discovery_command` should be specified")
        if f["modules"] is not None and f["modules_dir"]:
            die("Only one of --modules or --modules_dir should be specified")
        if f["master_detector"] or f["modules"] is not None or f["modules_dir"]:
            die("Error loading modules: modules are not supported by the Mesos protocol double")
        self.check_containerizers()
        self.check_master()
        self.build_info()
        self.recover()

    def check_containerizers(self) -> None:
        # src/slave/containerizer/containerizer.cpp Containerizer::create
        f = self.flags
        kinds = [k.strip() for k in f["containerizers"].split(",") if k.strip()]
        for kind in kinds:
            if kind not in ("mesos", "docker"):
                die(f"Failed to create a containerizer: Unknown or unsupported containerizer: {kind}")
        if "mesos" in kinds:
            error = self.check_isolation()
            if error:
                die(f"Failed to create a containerizer: Could not create MesosContainerizer: {error}")
        if "docker" in kinds:
            error = None
            docker = f["docker"]
            if not (shutil.which(docker) if "/" not in docker else os.access(docker, os.X_OK)):
                error = f"Failed to create docker: Failed to find docker executable '{docker}'"
            else:
                ping = docker_ping(f["docker_socket"])
                if ping:
                    error = f"Failed to create docker: Failed to get docker version: {ping}"
            if error:
                die(f"Failed to create a containerizer: Could not create DockerContainerizer: {error}")

    def check_isolation(self) -> str | None:
        f = self.flags
        names = [n.strip() for n in f["isolation"].split(",") if n.strip()]
        for name in names:
            if name not in KNOWN_ISOLATORS:
                return f"Unknown or unsupported isolator '{name}'"
        hierarchy = f["cgroups_hierarchy"]
        wanted = [n for n in names if n.startswith("cgroups/")]
        if "cgroups/all" in wanted:
            wanted = [n for n, subs in CGROUPS_SUBSYSTEMS.items() if os.path.isdir(os.path.join(hierarchy, subs[0]))]
            if not wanted:
                return f"Failed to create isolator 'cgroups/all': no cgroup v1 subsystem found under '{hierarchy}'"
        for name in wanted:
            for subsystem in CGROUPS_SUBSYSTEMS.get(name, []):
                error = check_cgroup_subsystem(hierarchy, subsystem)
                if error:
                    return (
                        f"Failed to create isolator '{name}': Failed to prepare hierarchy for subsystem "
                        f"'{subsystem}': {error}"
                    )
            if name == "cgroups/cpu" and f["cgroups_enable_cfs"]:
                # src/slave/containerizer/mesos/isolators/cgroups/subsystems/cpu.cpp
                if not os.path.exists(os.path.join(hierarchy, "cpu", "cpu.cfs_quota_us")):
                    return (
                        "Failed to create isolator 'cgroups/cpu': Failed to find 'cpu.cfs_quota_us'. "
                        "Your kernel might be too old to use the CFS cgroups feature."
                    )
        return None

    def check_master(self) -> None:
        # src/master/detector/detector.cpp MasterDetector::create
        value = self.flags["master"].strip()
        if value.startswith(("zk://", "file://")):
            try:
                self.url = zk_url_for_contender(value)
            except ValueError as exc:
                if not value.startswith("file://") or "Failed to read" in str(exc):
                    die(f"Failed to create a master detector: {exc}")
                # file:// holding host:port
                with open(value[7:], encoding="utf-8") as fh:
                    value = fh.read().strip()
        if self.url is None:
            host_port = value.removeprefix("master@")
            host, sep, port = host_port.rpartition(":")
            if not sep or not port.isdigit() or not host:
                die(f"Failed to create a master detector: Failed to parse '{value}'")
            self.static_master = (host, int(port))

    def build_info(self) -> None:
        f = self.flags
        os.makedirs(f["work_dir"], exist_ok=True)
        try:
            parsed = parse_resources(f["resources"] or "", f["default_role"])
            resources = default_resources(parsed, f["work_dir"], f["default_role"])
            attributes = parse_attributes(f["attributes"])
        except ResourceError as exc:
            die(f"Failed to determine agent resources: {exc}")
        self.info = {
            "hostname": self.hostname,
            "port": self.port_advertised,
            "resources": resources,
            "attributes": attributes,
        }
        if f["domain"] is not None:
            self.info["domain"] = f["domain"]

    def recover(self) -> None:
        # src/slave/slave.cpp Slave::recover + src/slave/paths.cpp: meta/slaves/latest is a
        # symlink to meta/slaves/<id>; slave.info holds the checkpointed SlaveInfo (protobuf in
        # Mesos, JSON in the double).
        latest = os.path.join(self.meta_dir, "slaves", "latest")
        if not os.path.lexists(latest):
            return
        info_path = os.path.join(latest, "slave.info")
        try:
            with open(info_path, encoding="utf-8") as fh:
                old = json.load(fh)
        except (OSError, ValueError) as exc:
            if self.flags["strict"]:
                die(f"Agent recovery failed: Failed to read agent info from '{info_path}': {exc}")
            return
        if self.flags["recover"] == "cleanup":
            log("Agent recovery with --recover=cleanup: exiting after cleanup")
            os._exit(0)
        new = dict(self.info, id=old.get("id"))
        if not self.compatible(old, new):
            # src/slave/compatibility.cpp equal() and the EXIT in src/slave/slave.cpp
            # Slave::__recover ("Failed to perform recovery: ...").
            if self.flags["reconfiguration_policy"] == "additive":
                reason = "Configuration change not permitted under `additive` policy"
            else:
                reason = "\n".join(
                    [
                        "Incompatible agent info detected. ",
                        "\n------------------------------------------------------------",
                        "Old agent info:\n" + compact_json(old),
                        "\n------------------------------------------------------------",
                        "New agent info:\n" + compact_json(new),
                        "\n------------------------------------------------------------",
                    ]
                )
            die(
                f"Failed to perform recovery: {reason}\n"
                "To restart this agent with a new agent id instead, do as follows:\n"
                f"rm -f {latest}\n"
                "This ensures that the agent does not recover old live executors.\n"
            )
        self.agent_id = old.get("id", {}).get("value")
        log(f"Recovered agent {self.agent_id} from {info_path}")

    def compatible(self, old: dict, new: dict) -> bool:
        # src/slave/compatibility.cpp: 'equal' needs identical hostname/port/resources/
        # attributes/domain; 'additive' allows additions only.
        def norm(items: list[dict]) -> dict:
            return {(i["name"], i.get("role", "*")): i for i in items}

        if old.get("hostname") != new.get("hostname") or old.get("port") != new.get("port"):
            return False
        if self.flags["reconfiguration_policy"] == "additive":
            old_res, new_res = norm(old.get("resources", [])), norm(new.get("resources", []))
            for key, res in old_res.items():
                now = new_res.get(key)
                if now is None or now["type"] != res["type"]:
                    return False
                if res["type"] == "SCALAR" and now["scalar"]["value"] < res["scalar"]["value"]:
                    return False
            old_attr, new_attr = norm(old.get("attributes", [])), norm(new.get("attributes", []))
            return all(new_attr.get(k) == v for k, v in old_attr.items()) and (
                old.get("domain") in (None, new.get("domain"))
            )
        return (
            norm(old.get("resources", [])) == norm(new.get("resources", []))
            and norm(old.get("attributes", [])) == norm(new.get("attributes", []))
            and old.get("domain") == new.get("domain")
        )

    def checkpoint(self) -> None:
        assert self.agent_id is not None
        slaves = os.path.join(self.meta_dir, "slaves")
        directory = os.path.join(slaves, self.agent_id)
        os.makedirs(directory, exist_ok=True)
        write_atomically(
            os.path.join(directory, "slave.info"), compact_json(dict(self.info, id={"value": self.agent_id}))
        )
        latest = os.path.join(slaves, "latest")
        tmp = latest + ".tmp"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(directory, tmp)
        os.replace(tmp, latest)

    def run(self) -> None:
        self.validate()
        log(DOUBLE_BANNER.format(version=MESOS_VERSION).replace("\n", " "))
        log(f"Agent started on {self.ip}:{self.port} (pid {self.pid})")
        serve(self.bind_ip, self.port, self.route)
        signal.signal(signal.SIGTERM, self._terminate)
        if self.url is not None:
            self._start_detector()
        else:
            assert self.static_master is not None
            host, port = self.static_master
            self.master = {"hostname": host, "address": {"hostname": host, "ip": host, "port": port}, "port": port}
        self._registration_loop()

    def _terminate(self, *_: Any) -> None:
        # The double tells its master right away that this agent went away (a real master sees
        # the agent's libprocess socket close and deactivates the agent).
        master = self.master
        if master is not None and self.agent_id is not None:
            try:
                http_json(
                    "POST", self._master_url(master) + DOUBLE_AGENT_PATH + "/disconnect", {"id": self.agent_id}, 1.0
                )
            except OSError:
                pass
        os._exit(0)

    def _start_detector(self) -> None:
        assert self.url is not None
        self.zk = make_zk_client(self.url, self.flags["zk_session_timeout"].secs)
        while True:
            try:
                self.zk.start(timeout=5)
                break
            except Exception as exc:
                log(f"Failed to connect to ZooKeeper: {exc}; retrying", "W")
                time.sleep(0.5)
        path = self.url.path

        def changed(children: list[str] | None) -> None:
            _unused, info = leader_from_children(self.zk, path, children or [])
            with self.lock:
                if (info or {}).get("id") != (self.master or {}).get("id"):
                    log(f"New master detected at {info['pid']}" if info else "Lost leading master")
                self.master = info

        # The path may not exist yet: watch it from its parent's creation on.
        while True:
            try:
                if self.zk.exists(path):
                    break
            except Exception:  # noqa: S110
                pass
            time.sleep(0.2)
        self.zk.ChildrenWatch(path, changed)

    @staticmethod
    def _master_url(master: dict) -> str:
        address = master.get("address") or {}
        host = address.get("ip") or address.get("hostname") or master.get("hostname")
        return f"http://{host}:{address.get('port') or master.get('port')}"

    def _registration_loop(self) -> None:
        # Registration, re-registration on every new leader, then pings (the double's channel;
        # backoff simplified to a fixed interval).
        while True:
            master = self.master
            try:
                if master is None:
                    self.registered_with = None
                elif self.registered_with != master.get("id", "static") or self.agent_id is None:
                    self._register(master)
                else:
                    status, body = http_json(
                        "POST", self._master_url(master) + DOUBLE_AGENT_PATH + "/ping", {"id": self.agent_id}, 2.0
                    )
                    self._check_shutdown(master, status, body)
                    if status != 200:
                        self.registered_with = None
            except OSError as exc:
                log(f"Failed to reach master: {exc}", "W")
                self.registered_with = None
            time.sleep(0.25 if self.registered_with is None else 0.5)

    def _check_shutdown(self, master: dict, status: int, body: Any) -> None:
        # src/slave/slave.cpp Slave::shutdown: a ShutdownMessage from the master (machine DOWN)
        # sets state TERMINATING and, with no frameworks, terminates the agent (exit 0).
        # Slave::finalize then KEEPS <work_dir>/meta/slaves/latest. Older releases (0.x, early
        # 1.x) removed it there ("if (state == TERMINATING) ... os::rm(getLatestSlavePath)");
        # slave.cpp from 529ec27 (a 1.6-or-later tree) onwards, so the 1.11 imitated here, no
        # longer does, and src/tests/slave_recovery_tests.cpp SlaveRecoveryTest.ShutdownSlave
        # (41c5a57) expects a shut-down agent to "reregister as the same agent" (same agent id).
        # Plain SIGTERM keeps it too. The master admits that re-registration once the machine is
        # up again (Master::_reregisterSlave: MarkSlaveReachable, "we admit the slave anyway").
        if status == 403 and isinstance(body, dict) and "shutdown" in body:
            log(f"Agent asked to shut down by {master.get('pid')} because '{body['shutdown']}'")
            os._exit(0)

    def _register(self, master: dict) -> None:
        info = dict(self.info)
        if self.agent_id:
            info["id"] = {"value": self.agent_id}
        status, body = http_json(
            "POST",
            self._master_url(master) + DOUBLE_AGENT_PATH + "/register",
            {
                "info": info,
                "pid": self.pid,
                "version": MESOS_VERSION,
                "capabilities": AGENT_CAPABILITIES,
                "incarnation": self.incarnation,
            },
        )
        self._check_shutdown(master, status, body)
        if status != 200 or not isinstance(body, dict):
            return
        with self.lock:
            first = self.agent_id is None
            self.agent_id = body["id"]
            self.registered_with = master.get("id", "static")
            self.counters["registered"] = 1.0
        self.checkpoint()
        verb = "Registered" if first else "Re-registered"
        log(f"{verb} with master {master.get('pid')}; given agent ID {self.agent_id}")

    # ---- HTTP -----------------------------------------------------------------------------------
    def state(self) -> dict:
        with self.lock:
            master = self.master if self.registered_with else None
            state: dict[str, Any] = {
                **version_json(),
                "start_time": self.start_time,
                "id": self.agent_id or "",
                "pid": self.pid,
                "hostname": self.hostname,
                "capabilities": list(AGENT_CAPABILITIES),
                "resources": resources_v0(self.info["resources"]),
                "reserved_resources": {},
                "unreserved_resources": resources_v0(self.info["resources"]),
                "reserved_resources_full": {},
                "unreserved_resources_full": self.info["resources"],
                "reserved_resources_allocated": {},
                "unreserved_resources_allocated": resources_v0([]),
                "attributes": attributes_v0(self.info["attributes"]),
                "flags": self.flags.as_strings(),
                "frameworks": [],
                "completed_frameworks": [],
            }
            if master is not None:
                state["master_hostname"] = master.get("hostname")
            if self.flags["log_dir"]:
                state["log_dir"] = self.flags["log_dir"]
            return state

    def metrics(self) -> dict:
        res = self.info["resources"]
        m = {
            "slave/registered": 1.0 if self.registered_with else 0.0,
            "slave/uptime_secs": time.time() - self.start_time,
            "slave/recovery_errors": 0.0,
            "slave/executors_running": 0.0,
            "slave/executors_registering": 0.0,
            "slave/executors_terminating": 0.0,
            "slave/executors_terminated": 0.0,
            "slave/frameworks_active": 0.0,
            "slave/tasks_running": 0.0,
            "slave/tasks_staging": 0.0,
            "slave/tasks_starting": 0.0,
            "slave/tasks_finished": 0.0,
            "slave/tasks_failed": 0.0,
            "slave/tasks_killed": 0.0,
            "slave/tasks_lost": 0.0,
            "system/cpus_total": float(os.cpu_count() or 1),
        }
        for kind in ("cpus", "mem", "disk", "gpus"):
            m[f"slave/{kind}_total"] = scalar_total(res, kind)
            m[f"slave/{kind}_used"] = 0.0
            m[f"slave/{kind}_percent"] = 0.0
        m["system/load_1min"], m["system/load_5min"], m["system/load_15min"] = os.getloadavg()
        return dict(sorted(m.items()))

    def route(self, req: Request) -> Response:
        path = req.path
        if path == "/metrics/snapshot":
            return Response.json(self.metrics())
        if path == "/version":
            return Response.json(version_json())
        for prefix in ("/slave(1)", ""):
            if prefix and not path.startswith(prefix + "/"):
                continue
            sub = path[len(prefix) :]
            if sub == "/health":
                return Response(200)
            if sub in ("/state", "/state.json"):
                return Response.json(self.state())
            if sub in ("/flags", "/flags.json"):
                return Response.json({"flags": self.flags.as_strings()})
            if sub == "/api/v1":
                return self.api(req)
        return Response(404)

    def api(self, req: Request) -> Response:
        error, call = v1_check_request(req, "agent")
        if error is not None or call is None:
            return error or Response(400)
        kind = call["type"]
        if kind == "GET_HEALTH":
            result: dict = {"healthy": True}
        elif kind == "GET_FLAGS":
            result = v1_flags(self.flags)
        elif kind == "GET_VERSION":
            result = v1_version()
        elif kind == "GET_METRICS":
            result = {"metrics": [{"name": k, "value": v} for k, v in self.metrics().items()]}
        elif kind == "GET_AGENT":
            result = {"agent_info": dict(self.info, id={"value": self.agent_id or ""})}
        else:
            return Response.text(501, f"Call type {kind} is not implemented by the Mesos protocol double")
        return Response.json({"type": kind, kind.lower(): drop_empty(result)})


# --------------------------------------------------------------------------------------------
# Entry point: personality from a first argument 'master'/'agent' or from argv[0]
# (mesos-master, mesos-agent, mesos-slave).
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv if argv is None else argv)
    program = os.path.basename(args[0]) if args else "mesos-double"
    personality = None
    if len(args) > 1 and args[1] in ("master", "agent", "slave"):
        personality = "master" if args[1] == "master" else "agent"
        program = f"mesos-{personality}"
        args = [program, *args[2:]]
    elif "master" in program:
        personality = "master"
    elif "agent" in program or "slave" in program:
        personality = "agent"
    if personality is None:
        sys.stderr.write(
            "usage: mesos_double.py {master|agent} [--flag=value ...]\n"
            "(or install it as mesos-master / mesos-agent)\n\n" + DOUBLE_BANNER.format(version=MESOS_VERSION) + "\n"
        )
        return 1
    specs = flag_specs(personality)
    try:
        flags = load(f"mesos-{personality}", specs, args[1:], os.environ)
    except FlagError as exc:
        # src/{master,slave}/main.cpp check --help and --version before the load error.
        partial = exc.flags or Flags(f"mesos-{personality}", {s.name: s for s in specs})
        if partial["help"]:
            print(partial.usage(DOUBLE_BANNER.format(version=MESOS_VERSION)))
            return 0
        if partial["version"]:
            print(f"mesos {MESOS_VERSION}")
            return 0
        sys.stderr.write(f"{exc}\n\nSee `mesos-{personality} --help` for a list of supported flags.\n")
        return 1
    if flags["help"]:
        print(flags.usage(DOUBLE_BANNER.format(version=MESOS_VERSION)))
        return 0
    if flags["version"]:
        print(f"mesos {MESOS_VERSION}")
        return 0
    for warning in flags.warnings:
        log(warning, "W")
    if personality == "master":
        Master(flags).run()
    else:
        Agent(flags).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
