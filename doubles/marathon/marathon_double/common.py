"""Constants and helpers of the Marathon PROTOCOL DOUBLE: what it says it is, logs, timestamps.

Exit codes follow mesosphere/marathon core/base/CrashStrategy.scala; timestamps follow
state/Timestamp.scala (ISO-8601, UTC, milliseconds, ``Z``).
"""

from __future__ import annotations

import datetime
import os
import sys
import threading
import time
from typing import NoReturn

MARATHON_VERSION = "1.10.26"
# /v2/info "buildref": real Marathon reports the git commit it was built from; the double's
# marker goes there (no field is added or removed for it).
BUILDREF = "orchestrator-platform-double (NOT Marathon)"
DOUBLE_BANNER = (
    "THIS IS A PROTOCOL DOUBLE of Marathon {version} for tests and labs of the orchestrator.platform\n"
    "collection. It is NOT Marathon: it elects a leader and keeps apps in ZooKeeper, serves the v2 REST\n"
    "API the collection uses and runs apps as DOCKER tasks through the Mesos v1 scheduler API.\n"
    "See doubles/README.md for what it imitates and where it simplifies."
)

# core/base/CrashStrategy.scala
EXIT_ZK_CONNECTION_LOSS = 101
EXIT_LEADERSHIP_LOSS = 103
EXIT_LEADERSHIP_ENDED_GRACEFULLY = 105
EXIT_SCHEDULER_ERROR = 106
EXIT_FRAMEWORK_REMOVED = 110
EXIT_BINDING_ERROR = 111
EXIT_INVALID_FLAG = 112

_log_lock = threading.Lock()


def log(msg: str, level: str = "INFO") -> None:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
    with _log_lock:
        sys.stderr.write(f"[{stamp}] {level} {msg} (marathon-double, NOT Marathon; pid {os.getpid()})\n")
        sys.stderr.flush()


def crash(code: int, msg: str) -> NoReturn:
    # CrashStrategy: Runtime.exit(code) at once; the unit restarts Marathon.
    log(f"{msg}; exiting with {code}", "ERROR")
    os._exit(code)


def timestamp(when: float | None = None) -> str:
    # state/Timestamp.scala toString: 2015-09-30T09:09:17.614Z
    moment = datetime.datetime.fromtimestamp(time.time() if when is None else when, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
