# ruff: noqa: PLR0912 - one branch per Scallop rule
"""Marathon 1.10's command line, as Scallop parses it, and its ``MARATHON_*`` environment.

Upstream: mesosphere/marathon src/main/scala/mesosphere/marathon/Main.scala (``envToArgs``:
``MARATHON_<NAME>=v`` becomes ``--<name> v``, an empty value a bare ``--<name>``,
``MARATHON_APP_*`` is skipped; environment first, then the command line; a bad flag is logged
"Invalid command line flag" and the process exits 112), MarathonConf.scala, HttpConf.scala,
ZookeeperConf.scala, LeaderProxyConf.scala, EventConf/MetricsConf for names and defaults.
Scallop takes ``--name value`` and ``--name=value``; toggles ``--name``/``--disable_name``;
an unknown option fails ("Unknown option 'x'"), as does a missing ``--master``
("Required option 'master' not found") and an option given twice.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


class FlagError(Exception):
    pass


@dataclass(frozen=True)
class Spec:
    name: str
    kind: str  # str, int, long, toggle, bool
    default: Any = None


_SPECS = [
    # MarathonConf.scala
    Spec("master", "str"),
    Spec("mesos_leader_ui_url", "str"),
    Spec("failover_timeout", "long", 604800),
    Spec("ha", "toggle", True),
    Spec("checkpoint", "toggle", True),
    Spec("local_port_min", "int", 10000),
    Spec("local_port_max", "int", 20000),
    Spec("executor", "str", "//cmd"),
    Spec("hostname", "str"),
    Spec("webui_url", "str"),
    Spec("http_max_concurrent_requests", "int"),
    Spec("access_control_allow_origin", "str"),
    Spec("mesos_role", "str", "*"),
    Spec("new_group_enforce_role", "str", "off"),
    Spec("default_accepted_resource_roles", "str"),
    Spec("accepted_resource_roles_default_behavior", "str"),
    Spec("graceful_shutdown_timeout", "long", 45000),
    Spec("task_launch_confirm_timeout", "long", 300000),
    Spec("task_launch_timeout", "long", 300000),
    Spec("task_reservation_timeout", "long", 20000),
    Spec("reconciliation_initial_delay", "long", 15000),
    Spec("reconciliation_interval", "long", 600000),
    Spec("scale_apps_initial_delay", "long", 15000),
    Spec("scale_apps_interval", "long", 300000),
    Spec("mesos_user", "str"),
    Spec("framework_name", "str", "marathon"),
    Spec("mesos_authentication", "toggle", False),
    Spec("mesos_authentication_principal", "str"),
    Spec("mesos_authentication_secret_file", "str"),
    Spec("mesos_authentication_secret", "str"),
    Spec("env_vars_prefix", "str"),
    Spec("max_apps", "int"),
    Spec("on_elected_prepare_timeout", "long", 180000),
    Spec("leader_election_backend", "str", "curator"),
    Spec("mesos_heartbeat_interval", "long", 15000),
    Spec("mesos_heartbeat_failure_threshold", "int", 5),
    Spec("draining_seconds", "long", 0),
    Spec("maintenance_mode", "toggle", True),
    Spec("gpu_scheduling_behavior", "str", "restricted"),
    Spec("max_concurrent_marathon_health_checks", "int", 256),
    Spec("decline_offer_duration", "long", 120000),
    Spec("min_revive_offers_interval", "long", 5000),
    Spec("max_instances_per_offer", "int", 5),
    Spec("offer_matching_timeout", "long", 3000),
    Spec("launch_token_refresh_interval", "long", 30000),
    Spec("launch_tokens", "int", 100),
    Spec("task_lost_expunge_initial_delay", "long", 300000),
    Spec("task_lost_expunge_interval", "long", 30000),
    Spec("enable_features", "str"),
    Spec("default_network_name", "str"),
    Spec("mesos_bridge_name", "str", "mesos-bridge"),
    Spec("plugin_dir", "str"),
    Spec("plugin_conf", "str"),
    Spec("logging_level", "str"),
    Spec("revive_offers_for_new_apps", "toggle", True),
    Spec("revive_offers_repetitions", "int", 3),
    Spec("suppress_offers", "toggle", True),
    Spec("deprecated_features", "str"),
    Spec("metrics_name_prefix", "str", "marathon"),
    Spec("metrics_prometheus", "toggle", True),
    Spec("metrics_statsd", "toggle", False),
    Spec("metrics_statsd_host", "str"),
    Spec("metrics_statsd_port", "int"),
    Spec("store_cache", "toggle", True),
    Spec("max_running_deployments", "int", 100),
    Spec("backup_location", "str"),
    Spec("disable_http", "bool", False),
    # HttpConf.scala
    Spec("http_address", "str"),
    Spec("http_port", "int", 8080),
    Spec("https_address", "str"),
    Spec("https_port", "int", 8443),
    Spec("ssl_keystore_path", "str"),
    Spec("ssl_keystore_password", "str"),
    Spec("http_credentials", "str"),
    Spec("http_realm", "str", "Mesosphere"),
    Spec("http_compression", "toggle", True),
    Spec("assets_path", "str"),
    Spec("http_event_callback_slow_consumer_timeout", "long", 10000),
    Spec("event_stream_max_outstanding_messages", "int", 50),
    # LeaderProxyConf.scala
    Spec("leader_proxy_connection_timeout", "int", 5000),
    Spec("leader_proxy_read_timeout", "int", 10000),
    # ZookeeperConf.scala
    Spec("zk", "str", "zk://localhost:2181/marathon"),
    Spec("zk_timeout", "long", 10000),
    Spec("zk_session_timeout", "long", 10000),
    Spec("zk_connection_timeout", "long", 10000),
    Spec("zk_compression", "toggle", True),
    Spec("zk_compression_threshold", "long", 65536),
    Spec("zk_max_node_size", "long", 1024000),
    Spec("zk_max_versions", "int", 50),
    Spec("zk_operation_max_retries", "int", 5),
    Spec("zk_operation_base_retry_sleep_ms", "int", 10),
    # Scallop's own
    Spec("help", "bool", False),
    Spec("version", "bool", False),
]
SPECS = {s.name: s for s in _SPECS}


def env_to_args(env: dict[str, str]) -> list[str]:
    # Main.envToArgs
    args: list[str] = []
    for key, value in env.items():
        if key.startswith("MARATHON_APP_") or not key.startswith("MARATHON_"):
            continue
        name = "--" + key[len("MARATHON_") :].lower()
        args.extend([name] if value == "" else [name, value])
    return args


def _convert(spec: Spec, raw: str) -> Any:
    if spec.kind in ("int", "long"):
        try:
            return int(raw)
        except ValueError:
            raise FlagError(f"Bad arguments for option '{spec.name}': '{raw}'") from None
    return raw


def parse(argv: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """The flag values (defaults filled) from ``MARATHON_*`` (first) and ``argv``; FlagError."""
    args = env_to_args(dict(os.environ if env is None else env)) + list(argv)
    values: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("--"):
            raise FlagError(f"Excess arguments provided: '{arg}'")
        name, eq, inline = arg[2:].partition("=")
        toggled: bool | None = None
        spec = SPECS.get(name)
        if spec is None and name.startswith("disable_") and SPECS.get(name[8:], Spec("", "")).kind == "toggle":
            spec, toggled = SPECS[name[8:]], False
        if spec is None:
            raise FlagError(f"Unknown option '{name}'")
        if spec.name in values:
            raise FlagError(f"Option '{spec.name}' is specified multiple times")
        if spec.kind in ("toggle", "bool"):
            if eq:
                raise FlagError(f"Excess arguments provided: '{inline}'")
            values[spec.name] = True if toggled is None else toggled
            continue
        if eq:
            raw = inline
        elif i < len(args) and not args[i].startswith("--"):
            raw = args[i]
            i += 1
        else:
            raise FlagError(f"Option '{spec.name}' needs one argument")
        values[spec.name] = _convert(spec, raw)
    out = {s.name: s.default for s in _SPECS}
    out.update(values)
    out["_supplied"] = sorted(values)
    if out["help"] or out["version"]:
        return out
    if out["master"] is None:
        raise FlagError("Required option 'master' not found")
    if out["disable_http"] and not out["ssl_keystore_path"]:
        # HttpConf: --disable_http needs HTTPS.
        raise FlagError("--disable_http requires --ssl_keystore_path (HTTPS)")
    if out["mesos_authentication"] and not out["mesos_authentication_principal"]:
        raise FlagError("--mesos_authentication requires --mesos_authentication_principal")
    if not str(out["zk"]).startswith("zk://"):
        raise FlagError(f"Bad arguments for option 'zk': '{out['zk']}'")
    return out


def parse_zk(url: str) -> tuple[str, str, tuple[str, str] | None]:
    """``zk://[user:pass@]hosts/path`` -> (hosts, path, credentials) (ZookeeperConf.ZkUrl)."""
    rest = url[len("zk://") :]
    hosts, _sep, path = rest.partition("/")
    creds = None
    if "@" in hosts:
        auth, hosts = hosts.rsplit("@", 1)
        user, _colon, password = auth.partition(":")
        creds = (user, password)
    return hosts, "/" + path.rstrip("/"), creds


def redacted_zk(url: str) -> str:
    hosts, path, creds = parse_zk(url)
    return f"zk://{'xxxxxxxx:xxxxxxxx@' if creds else ''}{hosts}{path}"
