# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one Mesos HTTP client of the collection (private to it), and Mesos data helpers.

* :class:`MesosClient`: requests on the shared client of ``_http`` with a timeout,
  bounded retries, leader redirects followed by hand (a master that is not the leader answers
  ``307`` with a scheme-relative ``Location: //host:port[/path]``), HTTP basic auth and TLS
  options; every HTTP status is turned into a result or a :class:`MesosError` in one place
  (:func:`check_status`).
* leader discovery: over HTTP (``/master/redirect``) and from ZooKeeper (the lowest
  ``json.info_<seq>`` znode under the Mesos path, read with the shared kazoo code of ``_zk``).
* maintenance schedules: machine ids, unavailability parsing, merging a task's machines into
  the schedule without touching other machines' windows.
"""

from __future__ import annotations

import datetime
import http.client
import json
import re
import struct
import time
from urllib.parse import unquote, urlsplit

from ansible_collections.orchestrator.platform.plugins.module_utils import _zk
from ansible_collections.orchestrator.platform.plugins.module_utils._http import HttpClient, HttpError, Response

DEFAULT_MASTER_PORT = 5050
UTC = datetime.timezone(datetime.timedelta(0))
# Statuses worth asking again: an election in progress (503 from a master without a leader)
# and gateways. Anything else is an answer.
RETRY_STATUSES = (502, 503, 504)
MAX_REDIRECTS = 3
ZNODE_PREFIX = "json.info_"

# /metrics/snapshot values reported by default (all exist on a Mesos master; see
# docs/monitoring.md upstream).
DEFAULT_METRICS = (
    "master/elected",
    "master/uptime_secs",
    "master/slaves_active",
    "master/slaves_inactive",
    "master/slaves_connected",
    "master/slaves_disconnected",
    "master/frameworks_active",
    "master/frameworks_inactive",
    "master/tasks_running",
    "master/tasks_staging",
    "master/cpus_total",
    "master/cpus_used",
    "master/mem_total",
    "master/mem_used",
    "master/disk_total",
    "master/disk_used",
    "registrar/log/recovered",
)


class MesosError(HttpError):
    """A failed request or a refused operation, with what Mesos said.

    ``status`` is the HTTP status (None when the master could not be reached at all), ``url``
    the request, ``body`` Mesos's own message (its response body, as text).
    """

    def result(self) -> dict:
        """Extra keys for ``fail_json``."""
        return {"status": self.status, "url": self.url, "mesos_message": self.body}


# ---------------------------------------------------------------------------------------------
# Module parameters
# ---------------------------------------------------------------------------------------------


def mesos_argument_spec() -> dict:
    """The connection options, documented by the ``orchestrator.platform.mesos`` doc fragment."""
    return {
        "masters": {"type": "list", "elements": "str"},
        "zk": {"type": "str"},
        "scheme": {"type": "str", "choices": ["http", "https"], "default": "http"},
        "url_username": {"type": "str", "aliases": ["username"]},
        "url_password": {"type": "str", "no_log": True, "aliases": ["password"]},
        "validate_certs": {"type": "bool", "default": True},
        "ca_path": {"type": "path"},
        "client_cert": {"type": "path"},
        "client_key": {"type": "path"},
        "timeout": {"type": "float", "default": 10.0},
        "retries": {"type": "int", "default": 3},
        "retry_delay": {"type": "float", "default": 1.0},
    }


def mesos_required_together() -> list[list[str]]:
    return [["url_username", "url_password"], ["client_cert", "client_key"]]


def mesos_required_one_of() -> list[list[str]]:
    return [["masters", "zk"]]


def check_params(params: dict) -> None:
    """Checks the argument spec cannot express; raises MesosError."""
    if not params.get("masters") and not params.get("zk"):
        raise MesosError("give the masters (URLs or host:port), the zk URL (zk://host:2181/mesos), or both")
    if params["timeout"] <= 0:
        raise MesosError("timeout: must be more than 0 seconds")
    if params["retries"] < 0:
        raise MesosError("retries: must be 0 or more")
    if params["retry_delay"] < 0:
        raise MesosError("retry_delay: must be 0 or more seconds")


# ---------------------------------------------------------------------------------------------
# Addresses
# ---------------------------------------------------------------------------------------------


def format_hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def master_base_url(entry: str, scheme: str = "http") -> str:
    """``m1``, ``m1:5050``, ``[::1]:5050``, ``https://m1:5050/`` -> ``scheme://host:port``."""
    if not isinstance(entry, str) or not entry.strip():
        raise MesosError(f"masters: empty entry {entry!r}")
    text = entry.strip()
    if "://" not in text:
        text = f"{scheme}://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise MesosError(f"masters: {entry!r} is not an http(s) URL or host:port (zk:// URLs go in zk)")
    try:
        port = parts.port or DEFAULT_MASTER_PORT
    except ValueError as exc:
        raise MesosError(f"masters: bad port in {entry!r}") from exc
    if not parts.hostname:
        raise MesosError(f"masters: no host in {entry!r}")
    if parts.path not in ("", "/") or parts.query:
        raise MesosError(f"masters: {entry!r} has a path; give only scheme://host:port")
    return f"{parts.scheme}://{format_hostport(parts.hostname, port)}"


def hostport_of(url: str) -> str:
    parts = urlsplit(url)
    return format_hostport(parts.hostname or "", parts.port or DEFAULT_MASTER_PORT)


def resolve_location(location: str, current_url: str) -> str:
    """The base URL (``scheme://host:port``) a redirect points to.

    Mesos answers with a scheme-relative ``//host:port`` (``/master/redirect``) or
    ``//host:port/path`` (other endpoints on a non-leader); Mesos before 1.0 sent
    ``http://host:port``. The scheme of the request that was redirected is kept, so an HTTPS
    client stays on HTTPS.
    """
    if not location:
        raise MesosError(f"redirect without a Location header from {current_url}", status=307, url=current_url)
    text = location.strip()
    scheme = urlsplit(current_url).scheme or "http"
    if text.startswith("//"):
        text = f"{scheme}:{text}"
    elif "://" not in text:
        raise MesosError(
            f"cannot follow redirect to {location!r} from {current_url}: not a //host:port location",
            status=307,
            url=current_url,
        )
    parts = urlsplit(text)
    if not parts.hostname:
        raise MesosError(f"redirect to {location!r} from {current_url} names no host", status=307, url=current_url)
    try:
        port = parts.port or DEFAULT_MASTER_PORT
    except ValueError as exc:
        raise MesosError(f"redirect to {location!r} has a bad port", status=307, url=current_url) from exc
    return f"{parts.scheme}://{format_hostport(parts.hostname, port)}"


def parse_zk_url(url: str) -> dict:
    """``zk://[user:pass@]h1:2181,h2:2181/mesos`` -> ``{hosts, path, username, password}``.

    Only ``zk://`` is accepted (Mesos's ``file://`` form names a file on the masters).
    """
    if not isinstance(url, str) or not url.startswith("zk://"):
        raise MesosError(f"zk: {url!r} must look like zk://host1:2181,host2:2181/mesos")
    rest = url[len("zk://") :]
    slash = rest.find("/")
    if slash < 0:
        raise MesosError(f"zk: {url!r} has no path (Mesos needs one, for example /mesos)")
    authority, path = rest[:slash], rest[slash:]
    if path == "/" or path.endswith("/") or "//" in path:
        raise MesosError(f"zk: path {path!r} of {url!r} must be a znode path like /mesos, not / or ending in /")
    username = password = None
    if "@" in authority:
        cred, authority = authority.rsplit("@", 1)
        username, sep, password = cred.partition(":")
        if not sep or not username:
            raise MesosError("zk: credentials in the URL must be user:password@")
        username, password = unquote(username), unquote(password)
    if not authority:
        raise MesosError(f"zk: {url!r} names no ZooKeeper server")
    return {"hosts": authority, "path": path, "username": username, "password": password}


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------


_STATUS_EXPLANATIONS = {
    400: "Mesos rejected the request",
    401: "authentication required or refused: check url_username/url_password (Mesos HTTP basic auth)",
    403: "the principal is not authorized for this endpoint (Mesos ACLs)",
    404: "no such endpoint: is this a Mesos master?",
    405: "method not allowed on this endpoint",
    409: "conflict",
    500: "the master failed to handle the request",
    503: "no leading master elected, or the master is still recovering",
    507: "the master refused the request (insufficient storage in its registry)",
}


def check_status(response: Response, expected: tuple[int, ...] = (200,)) -> Response:
    """The single place where an HTTP status becomes a result or a MesosError."""
    if response.status in expected:
        return response
    body = response.text.strip()
    explanation = _STATUS_EXPLANATIONS.get(response.status, "unexpected answer")
    reason = http.client.responses.get(response.status, "")
    msg = f"{explanation} ({response.status} {reason} from {response.url})"
    if body:
        msg += f": {body[:500]}"
    raise MesosError(msg, status=response.status, url=response.url, body=body[:2000] or None)


class MesosClient(HttpClient):
    """HTTP requests to Mesos masters with the module's connection options (on ``_http``)."""

    error = MesosError

    def __init__(self, params: dict, sleep=time.sleep, opener=None):
        super().__init__(params, sleep=sleep, opener=opener)
        self.retries = int(params.get("retries") or 0)
        self.retry_delay = float(params.get("retry_delay") or 0.0)
        self.scheme = params.get("scheme") or "http"

    def pause(self) -> None:
        self.sleep(self.retry_delay)

    # --- requests with retries and leader redirects ---------------------------------------------

    def request(
        self,
        method: str,
        base_url: str,
        path: str,
        *,
        body: object = None,
        expected: tuple[int, ...] = (200,),
        retry: bool = True,
    ) -> Response:
        """``method base_url+path`` following leader redirects, retrying transient failures.

        A 307 from a non-leading master is followed to the leader it names, with the same
        method, path and body (at most MAX_REDIRECTS hops). Refused connections, timeouts and
        502/503/504 are retried ``retries`` times, ``retry_delay`` seconds apart, when ``retry``.
        The final status goes through :func:`check_status`.
        """
        attempts = 1 + (self.retries if retry else 0)
        last_error: MesosError | None = None
        for attempt in range(attempts):
            if attempt:
                self.pause()
            try:
                response = self._follow(method, base_url, path, body)
            except MesosError as exc:
                if exc.status is None or exc.status in RETRY_STATUSES:
                    last_error = exc
                    continue
                raise
            if response.status in RETRY_STATUSES and response.status not in expected and attempt + 1 < attempts:
                continue
            return check_status(response, expected)
        if last_error is None:  # pragma: no cover - the loop ran at least once
            raise MesosError(f"{method} {path}: no attempt made")
        raise last_error

    def _follow(self, method: str, base_url: str, path: str, body: object) -> Response:
        url = base_url + path
        seen = [base_url]
        for _hop in range(MAX_REDIRECTS + 1):
            response = self.exchange(method, url, body)
            if response.status not in (301, 302, 303, 307, 308):
                return response
            target = resolve_location(response.headers.get("location", ""), url)
            if target in seen:
                raise MesosError(
                    f"{seen[-1]} redirects {path} back to {target}: no master is leading",
                    status=503,
                    url=url,
                )
            seen.append(target)
            url = target + path
        raise MesosError(f"too many redirects for {path}: {' -> '.join(seen)}", status=response.status, url=url)

    def get_json(self, base_url: str, path: str, retry: bool = True):
        return self.request("GET", base_url, path, retry=retry).json()

    def post_json(self, base_url: str, path: str, body: object, expected: tuple[int, ...] = (200, 202)) -> Response:
        # Writes are not retried after an answer: a timeout after the master applied the
        # change would post it twice. Only unreachable masters and 503 are retried.
        return self.request("POST", base_url, path, body=body, expected=expected)

    # --- leader ----------------------------------------------------------------------------------

    def redirect_target(self, base_url: str) -> tuple[str | None, str | None]:
        """Ask one master for ``/master/redirect``: ``(leader base URL or None, error or None)``.

        Mesos answers 307 ``Location: //host:port`` (even on the leader itself) and 503 when it
        knows no leader; neither is retried here (this is a probe).
        """
        url = base_url + "/master/redirect"
        try:
            response = self.exchange("GET", url)
        except MesosError as exc:
            return None, exc.msg
        if response.status in (301, 302, 303, 307, 308):
            try:
                return resolve_location(response.headers.get("location", ""), url), None
            except MesosError as exc:
                return None, exc.msg
        if response.status == 503:
            return None, f"{hostport_of(base_url)} knows no leading master (503)"
        try:
            check_status(response, (307,))
        except MesosError as exc:
            return None, exc.msg
        return None, f"unexpected answer {response.status} from {url}"  # pragma: no cover

    def find_leader(self, masters: list[str], zk: dict | None = None) -> str:
        """Base URL of the leading master, from the masters' redirect or from ZooKeeper.

        Tried ``retries`` more times when no leader is known (an election takes a few
        seconds). Raises MesosError(status=503) when none is found.
        """
        problems: list[str] = []
        for attempt in range(1 + self.retries):
            if attempt:
                self.pause()
            problems = []
            for base in masters:
                target, error = self.redirect_target(base)
                if target:
                    return target
                problems.append(error or f"no leader from {base}")
            if zk is not None:
                try:
                    leader = zk_leader(zk, self.timeout)
                except MesosError as exc:
                    problems.append(exc.msg)
                else:
                    if leader:
                        return f"{self.scheme}://{leader['hostport']}"
                    problems.append(f"no {ZNODE_PREFIX}* znode under {zk['path']}: no master is leading")
        raise MesosError("no leading Mesos master found: " + "; ".join(problems), status=503)


# ---------------------------------------------------------------------------------------------
# ZooKeeper
# ---------------------------------------------------------------------------------------------


def znode_sequence(name: str) -> int | None:
    """``json.info_0000000012`` -> 12; None for any other child (``log_replicas``, ...)."""
    m = re.match(r"^json\.info_(\d+)$", name)
    return int(m.group(1)) if m else None


def contenders(children: list[str]) -> list[tuple[int, str]]:
    """The masters' znodes among ``children``, lowest sequence (the leader) first."""
    found = [(seq, name) for name in children if (seq := znode_sequence(name)) is not None]
    return sorted(found)


def packed_ip(value: object) -> str | None:
    """MasterInfo's ``ip`` (an IPv4 address packed into an int in network byte order)."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**32:
        return None
    return ".".join(str(b) for b in struct.pack("<I", value))


def describe_master_info(data: bytes | str, sequence: int | None = None, znode: str | None = None) -> dict:
    """MasterInfo JSON (a ``json.info_*`` znode, or v1 ``master_info``) -> what modules report."""
    try:
        info = json.loads(data)
    except ValueError as exc:
        raise MesosError(f"znode {znode} does not hold MasterInfo JSON: {data[:100]!r}") from exc
    if not isinstance(info, dict):
        raise MesosError(f"znode {znode} does not hold a MasterInfo object")
    raw_address = info.get("address")
    address: dict = raw_address if isinstance(raw_address, dict) else {}
    ip = address.get("ip") or packed_ip(info.get("ip"))
    # /master/redirect names the leader by MasterInfo.hostname when set, else by its IP.
    hostname = info.get("hostname") or address.get("hostname") or ip
    port = info.get("port") or address.get("port")
    if not hostname or not isinstance(port, int):
        raise MesosError(f"MasterInfo in {znode} has no hostname/ip or port: {info!r}")
    return {
        "hostname": hostname,
        "ip": ip,
        "port": port,
        "hostport": format_hostport(hostname, port),
        "id": info.get("id"),
        "pid": info.get("pid"),
        "version": info.get("version"),
        "sequence": sequence,
        "znode": znode,
    }


def zk_connect_params(zk: dict, timeout: float) -> dict:
    """Parameters for ``_zk.connect`` (digest credentials from the zk URL, as Mesos uses them)."""
    return {
        "hosts": zk["hosts"],
        "timeout": timeout,
        "auth_scheme": "digest",
        "auth_username": zk.get("username"),
        "auth_password": zk.get("password"),
        "use_ssl": False,
    }


def zk_masters(zk: dict, timeout: float) -> list[dict]:
    """Every master registered under the Mesos path, the leader (lowest sequence) first."""
    if not _zk.HAS_KAZOO:
        raise MesosError("finding the leader in ZooKeeper needs the kazoo Python library on the target host")
    try:
        client = _zk.connect(zk_connect_params(zk, timeout))
    except _zk.ZkError as exc:
        raise MesosError(f"ZooKeeper: {exc}") from exc
    try:
        try:
            children = client.get_children(zk["path"])
        except _zk.kazoo_exceptions.NoNodeError:
            return []
        out = []
        for seq, name in contenders(children):
            path = f"{zk['path']}/{name}"
            try:
                data, _stat = client.get(path)
            except _zk.kazoo_exceptions.NoNodeError:
                continue  # that master's session ended between the two reads
            out.append(describe_master_info(data, seq, path))
        return out
    except _zk.kazoo_exceptions.KazooException as exc:
        raise MesosError(f"ZooKeeper: {_zk.explain(exc, zk['path'])}") from exc
    finally:
        _zk.close(client)


def zk_leader(zk: dict, timeout: float) -> dict | None:
    masters = zk_masters(zk, timeout)
    return masters[0] if masters else None


# ---------------------------------------------------------------------------------------------
# /master/state and /metrics/snapshot
# ---------------------------------------------------------------------------------------------

SCALARS = ("cpus", "gpus", "mem", "disk")


def _sum_resources(items: list[dict], key: str) -> dict:
    total = dict.fromkeys(SCALARS, 0.0)
    for item in items:
        res = item.get(key) or {}
        for name in SCALARS:
            value = res.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                total[name] += float(value)
    return total


def summarize_state(state: dict) -> dict:
    """The parts of ``/master/state`` that ``mesos_master_info`` reports."""
    slaves = [s for s in state.get("slaves") or [] if isinstance(s, dict)]
    frameworks = [f for f in state.get("frameworks") or [] if isinstance(f, dict)]
    agents = []
    for s in slaves:
        agents.append(
            {
                "id": s.get("id"),
                "hostname": s.get("hostname"),
                "pid": s.get("pid"),
                "active": bool(s.get("active")),
                "version": s.get("version"),
                "resources": s.get("resources") or {},
                "used_resources": s.get("used_resources") or {},
                "attributes": s.get("attributes") or {},
            }
        )
    tasks_running = 0
    all_tasks: dict[str, int] = {}
    fw_out = []
    for f in frameworks:
        # Full<Framework> (src/master/readonly_handler.cpp): "tasks" holds the framework's
        # non-terminal tasks, "unreachable_tasks" those on unreachable agents,
        # "completed_tasks" the terminal ones (bounded by --max_completed_tasks_per_framework).
        states = task_states([*(f.get("tasks") or []), *(f.get("unreachable_tasks") or [])])
        for task_state, count in states.items():
            all_tasks[task_state] = all_tasks.get(task_state, 0) + count
        running = states.get("TASK_RUNNING", 0)
        tasks_running += running
        fw_out.append(
            {
                "id": f.get("id"),
                "name": f.get("name"),
                "active": bool(f.get("active")),
                "connected": f.get("connected"),
                "recovered": f.get("recovered"),
                "role": f.get("role"),
                "roles": f.get("roles"),
                "user": f.get("user"),
                "checkpoint": f.get("checkpoint"),
                "failover_timeout": f.get("failover_timeout"),
                "tasks_running": running,
                "tasks": states,
                "completed_tasks": len(f.get("completed_tasks") or []),
            }
        )
    completed = [f for f in state.get("completed_frameworks") or [] if isinstance(f, dict)]
    active = sum(1 for a in agents if a["active"])
    return {
        "cluster": state.get("cluster"),
        "version": state.get("version"),
        "id": state.get("id"),
        "pid": state.get("pid"),
        "leader_pid": state.get("leader"),
        "elected_time": state.get("elected_time"),
        "start_time": state.get("start_time"),
        "agents": {
            "total": len(agents),
            "active": active,
            "inactive": len(agents) - active,
            "resources_total": _sum_resources(slaves, "resources"),
            "resources_used": _sum_resources(slaves, "used_resources"),
            "list": agents,
        },
        "frameworks": {
            "total": len(fw_out),
            "active": sum(1 for f in fw_out if f["active"]),
            "inactive": sum(1 for f in fw_out if not f["active"]),
            "connected": sum(1 for f in fw_out if f["connected"] is True),
            "disconnected": sum(1 for f in fw_out if f["connected"] is False),
            "completed": len(completed),
            "list": fw_out,
        },
        "tasks_running": tasks_running,
        "tasks": dict(sorted(all_tasks.items())),
    }


def task_states(tasks: list) -> dict[str, int]:
    """How many of ``tasks`` (``/master/state`` task objects) are in each state, by state name."""
    counts: dict[str, int] = {}
    for t in tasks:
        if isinstance(t, dict) and isinstance(t.get("state"), str):
            counts[t["state"]] = counts.get(t["state"], 0) + 1
    return dict(sorted(counts.items()))


def select_metrics(snapshot: dict, names: list[str] | tuple[str, ...]) -> dict:
    """``{name: value or None}`` for the requested metric names."""
    return {name: snapshot.get(name) for name in names}


# ---------------------------------------------------------------------------------------------
# Maintenance
# ---------------------------------------------------------------------------------------------

MODE_UP = "up"
MODE_DRAINING = "draining"
MODE_DOWN = "down"
_IPV4 = re.compile(r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")


def machine_id(hostname: str | None, ip: str | None) -> dict:
    """A MachineID as Mesos stores it: only the non-empty fields."""
    out = {}
    if hostname:
        out["hostname"] = hostname
    if ip:
        out["ip"] = ip
    return out


def machine_key(mid: dict) -> tuple[str, str]:
    """Mesos compares machine ids with the hostname case-insensitively and the ip exactly."""
    return ((mid.get("hostname") or "").lower(), mid.get("ip") or "")


def machine_label(mid: dict) -> str:
    host, ip = mid.get("hostname") or "", mid.get("ip") or ""
    return f"{host}/{ip}" if host and ip else host or ip


def normalize_machines(machines: list) -> list[dict]:
    """Validate the ``machines`` option the way the master does (see maintenance.cpp)."""
    if not machines:
        raise MesosError("machines: give at least one machine ({hostname, ip})")
    out: list[dict] = []
    seen: set[tuple[str, str]] = set()
    for i, m in enumerate(machines):
        if not isinstance(m, dict):
            raise MesosError(f"machines[{i}]: expected a dict with hostname and/or ip, got {m!r}")
        hostname = (m.get("hostname") or "").strip() or None
        ip = (m.get("ip") or "").strip() or None
        if not hostname and not ip:
            raise MesosError(f"machines[{i}]: both hostname and ip are empty (Mesos needs at least one)")
        if ip and not _IPV4.match(ip):
            raise MesosError(f"machines[{i}].ip: {ip!r} is not an IPv4 address (Mesos parses it as AF_INET)")
        mid = machine_id(hostname, ip)
        key = machine_key(mid)
        if key in seen:
            raise MesosError(f"machines[{i}]: {machine_label(mid)} is given twice")
        seen.add(key)
        out.append(mid)
    return out


_DURATION_UNITS = {
    "ns": 1,
    "nsecs": 1,
    "us": 10**3,
    "usecs": 10**3,
    "ms": 10**6,
    "msecs": 10**6,
    "s": 10**9,
    "sec": 10**9,
    "secs": 10**9,
    "m": 60 * 10**9,
    "min": 60 * 10**9,
    "mins": 60 * 10**9,
    "h": 3600 * 10**9,
    "hr": 3600 * 10**9,
    "hrs": 3600 * 10**9,
    "d": 86400 * 10**9,
    "day": 86400 * 10**9,
    "days": 86400 * 10**9,
    "w": 7 * 86400 * 10**9,
    "weeks": 7 * 86400 * 10**9,
}


def parse_duration(value: object) -> int | None:
    """Nanoseconds from an int (nanoseconds) or a string such as ``90m``, ``1h30m``, ``2hrs``."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise MesosError(f"duration: {value!r} is not a duration")
    if isinstance(value, int):
        nanos = value
    elif isinstance(value, float):
        nanos = int(value)
    else:
        text = str(value).strip().lower().replace(" ", "")
        if text.isdigit():
            nanos = int(text)
        else:
            parts = re.findall(r"(\d+(?:\.\d+)?)([a-z]+)", text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise MesosError(f"duration: cannot parse {value!r}; use nanoseconds or a string like 30m, 1h30m, 2d")
            nanos = 0
            for number, unit in parts:
                if unit not in _DURATION_UNITS:
                    raise MesosError(f"duration: unknown unit {unit!r} in {value!r}")
                nanos += int(float(number) * _DURATION_UNITS[unit])
    if nanos < 0:
        raise MesosError("duration: must not be negative (Mesos rejects a negative duration)")
    return nanos


def parse_start(value: object) -> int | None:
    """Nanoseconds since the epoch from an int (nanoseconds) or a date/time string.

    Strings are ISO 8601 (``2026-12-01T22:00:00Z``, ``2026-12-01 22:00:00+01:00``); a time
    without an offset is UTC.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise MesosError(f"start: {value!r} is not a time")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if re.match(r"^-?\d+$", text):
        return int(text)
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        when = datetime.datetime.fromisoformat(iso)
    except ValueError as exc:
        raise MesosError(
            f"start: cannot parse {value!r}; use nanoseconds since the epoch or ISO 8601 like 2026-12-01T22:00:00Z"
        ) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - datetime.datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def format_nanos(nanos: int | None) -> str | None:
    if nanos is None:
        return None
    secs, rest = divmod(nanos, 10**9)
    when = datetime.datetime.fromtimestamp(secs, tz=UTC)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if rest:
        text += f".{rest:09d}".rstrip("0")
    return text + "Z"


def unavailability(start: int, duration: int | None) -> dict:
    out: dict = {"start": {"nanoseconds": int(start)}}
    if duration is not None:
        out["duration"] = {"nanoseconds": int(duration)}
    return out


def _unavail_key(unav: dict) -> tuple[int | None, int | None]:
    start = (unav.get("start") or {}).get("nanoseconds")
    dur = (unav.get("duration") or {}).get("nanoseconds")
    return (int(start) if start is not None else None, int(dur) if dur is not None else None)


def normalize_schedule(schedule: dict | None) -> dict:
    """The schedule as ``GET /master/maintenance/schedule`` gives it, with ``windows`` always set."""
    windows = []
    for w in (schedule or {}).get("windows") or []:
        ids = [machine_id(m.get("hostname"), m.get("ip")) for m in w.get("machine_ids") or []]
        windows.append({"machine_ids": ids, "unavailability": w.get("unavailability") or {}})
    return {"windows": windows}


def machine_windows(schedule: dict) -> dict[tuple[str, str], dict]:
    """``{machine key: unavailability}`` of every scheduled machine."""
    out = {}
    for w in schedule["windows"]:
        for mid in w["machine_ids"]:
            out[machine_key(mid)] = w["unavailability"]
    return out


def machine_modes(status: dict | None) -> dict[tuple[str, str], str]:
    """``{machine key: "draining" | "down"}`` from ``GET /master/maintenance/status``.

    Upstream's ClusterStatus: ``draining_machines: [{id: MachineID, statuses: [...]}]`` and
    ``down_machines: [MachineID]``; machines in neither list are up.
    """
    out = {}
    for d in (status or {}).get("draining_machines") or []:
        mid = d.get("id") or {}
        out[machine_key(mid)] = MODE_DRAINING
    for mid in (status or {}).get("down_machines") or []:
        out[machine_key(mid)] = MODE_DOWN
    return out


def schedule_without(schedule: dict, keys: set[tuple[str, str]]) -> dict:
    """A copy of the schedule without these machines; windows left empty are dropped."""
    windows = []
    for w in schedule["windows"]:
        ids = [m for m in w["machine_ids"] if machine_key(m) not in keys]
        if ids:
            windows.append({"machine_ids": ids, "unavailability": w["unavailability"]})
    return {"windows": windows}


def merge_schedule(schedule: dict, machines: list[dict], start: int | None, duration: int | None, now: int) -> dict:
    """The schedule with ``machines`` in windows of the wanted unavailability.

    Other machines' windows are kept as they are (the POST replaces the whole schedule).
    Where ``start`` or ``duration`` is None, a machine already scheduled keeps its own value;
    a machine not scheduled yet starts at ``now`` and gets no duration (open-ended). Machines
    whose window changes leave their old window (dropped when it empties) and join a window
    with exactly their unavailability (an existing one if there is one).
    """
    current = machine_windows(schedule)
    wanted: dict[tuple[str, str], tuple[dict, dict]] = {}
    for mid in machines:
        key = machine_key(mid)
        old = current.get(key)
        old_start, old_dur = _unavail_key(old) if old is not None else (None, None)
        new_start: int = now
        if start is not None:
            new_start = start
        elif old_start is not None:
            new_start = old_start
        new_dur = duration if duration is not None else old_dur
        new = unavailability(new_start, new_dur)
        if old is None or _unavail_key(old) != _unavail_key(new):
            wanted[key] = (mid, new)
    if not wanted:
        return schedule
    result = schedule_without(schedule, set(wanted))
    for mid, unav in wanted.values():
        for w in result["windows"]:
            if _unavail_key(w["unavailability"]) == _unavail_key(unav):
                w["machine_ids"].append(mid)
                break
        else:
            result["windows"].append({"machine_ids": [mid], "unavailability": unav})
    return result


def schedule_equal(a: dict, b: dict) -> bool:
    """Same machines with the same unavailability (window order and grouping ignored)."""

    def flat(s: dict) -> dict:
        return {k: _unavail_key(v) for k, v in machine_windows(s).items()}

    return flat(a) == flat(b)


def describe_schedule(schedule: dict) -> list[dict]:
    """A readable copy for results and diffs: windows with readable times added."""
    out = []
    for w in schedule["windows"]:
        start, dur = _unavail_key(w["unavailability"])
        out.append(
            {
                "machine_ids": [dict(m) for m in w["machine_ids"]],
                "unavailability": w["unavailability"],
                "start": format_nanos(start),
                "duration_seconds": dur / 1e9 if dur is not None else None,
            }
        )
    return out
