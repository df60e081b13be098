"""Constants and helpers shared by both personalities of the Mesos PROTOCOL DOUBLE.

Version and build markers (the double says what it is in build_user), capabilities from
include/mesos/mesos.proto and src/slave/constants.cpp, logging in glog's line format.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import time
from typing import Any, NoReturn

from .channel import AGENT_TO_MASTER
from .flags import Flags

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
    "endpoints the collection uses, and runs DOCKER tasks as real containers in the host's Docker engine.\n"
    "See doubles/README.md for what it imitates and where it simplifies."
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
# src/common/protobuf_utils.cpp protobuf::isTerminalState: a task in one of these never runs again.
TERMINAL_TASK_STATES = frozenset(
    {
        "TASK_FINISHED",
        "TASK_FAILED",
        "TASK_KILLED",
        "TASK_LOST",
        "TASK_ERROR",
        "TASK_DROPPED",
        "TASK_GONE",
        "TASK_GONE_BY_OPERATOR",
    }
)
# Internal channel between the double's agents and masters (NOT Mesos's libprocess protocol).
DOUBLE_AGENT_PATH = AGENT_TO_MASTER


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
