# ruff: noqa: S108
"""Flag tables of the Mesos PROTOCOL DOUBLE: names, types, defaults and aliases.

From src/master/flags.cpp, src/slave/flags.cpp and src/logging/flags.cpp (1.11 / development head).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .flags import Bytes, Flag, parse_duration

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
