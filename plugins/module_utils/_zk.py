# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ZooKeeper client code shared by every module of the collection (private to it).

Two halves:

* four-letter words (``srvr``, ``mntr``) over plain sockets with a timeout, and their parsing,
  plus :func:`ensemble_status` (what ``zk_info`` returns). No third-party library needed, so it
  runs on a ZooKeeper host without extra packages.
* a kazoo client built from module parameters (:func:`zookeeper_argument_spec`,
  :func:`connect`), ACL parsing, formatting and comparison.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.util
import logging
import re
import socket
import traceback
from concurrent.futures import ThreadPoolExecutor

KAZOO_IMPORT_ERROR = None
try:
    from kazoo import exceptions as kazoo_exceptions
    from kazoo.client import KazooClient
    from kazoo.handlers.threading import KazooTimeoutError
    from kazoo.protocol.serialization import Create, SetData, Transaction
    from kazoo.security import ACL, Id

    HAS_KAZOO = True
except ImportError:
    HAS_KAZOO = False
    KAZOO_IMPORT_ERROR = traceback.format_exc()

# kazoo imports pure-sasl itself when a SASL connection starts; only its presence matters here.
HAS_PURESASL = importlib.util.find_spec("puresasl") is not None
PURESASL_IMPORT_ERROR = None if HAS_PURESASL else "No module named 'puresasl'"

DEFAULT_PORT = 2181
# ZooKeeper refuses packets above jute.maxbuffer (default 0xfffff bytes).
DEFAULT_MAX_VALUE_SIZE = 1048575
NOT_SERVING = "This ZooKeeper instance is not currently serving requests"
NOT_WHITELISTED = "is not executed because it is not in the whitelist"


class ZkError(Exception):
    """A problem worth a clear message to the user (bad input, refused operation)."""


class ZkUnavailable(ZkError):
    """No server answered in time: unlike bad input, it may pass by itself."""


# ---------------------------------------------------------------------------------------------
# Hosts and four-letter words
# ---------------------------------------------------------------------------------------------


def split_hosts(hosts: str) -> list[tuple[str, int]]:
    """Split a connect string ``h1:2181,h2,[::1]:2182/chroot`` into ``(host, port)`` pairs."""
    if not isinstance(hosts, str) or not hosts.strip():
        raise ZkError("hosts: must be a non-empty string like 'zk1:2181,zk2:2181,zk3:2181'")
    servers = hosts.strip()
    slash = servers.find("/")
    if slash >= 0:
        servers = servers[:slash]
    result: list[tuple[str, int]] = []
    for raw in servers.split(","):
        item = raw.strip()
        if not item:
            continue
        m = re.match(r"^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$", item) or re.match(r"^([^:\[\]]+)(?::(\d+))?$", item)
        if not m:
            raise ZkError(f"hosts: cannot parse {item!r} (expected host or host:port)")
        port = int(m.group(2)) if m.group(2) else DEFAULT_PORT
        if not 0 < port < 65536:
            raise ZkError(f"hosts: port {port} of {item!r} is out of range")
        result.append((m.group(1), port))
    if not result:
        raise ZkError("hosts: no server given")
    return result


def format_hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def four_letter_word(host: str, port: int, command: str, timeout: float = 5.0) -> str:
    """Send a four-letter word and return the whole answer; raises OSError when unreachable."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(command.encode("ascii"))
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode("utf-8", "replace")


def _number(value: str) -> int | float | str:
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        return value


def parse_srvr(text: str) -> dict:
    """Parse a ``srvr`` answer.

    Returns ``serving`` (bool), ``whitelisted`` (bool), ``mode``, ``zxid`` (int), ``version``,
    ``latency_min``/``latency_avg``/``latency_max``, ``received``, ``sent``, ``connections``,
    ``outstanding``, ``node_count`` (whatever the answer carries).
    """
    if NOT_WHITELISTED in text:
        return {"serving": False, "whitelisted": False, "mode": None}
    if NOT_SERVING in text:
        return {"serving": False, "whitelisted": True, "mode": None}
    out: dict = {"whitelisted": True}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        value = value.strip()
        if key == "zookeeper version":
            out["version"] = value
        elif key == "latency min/avg/max":
            parts = value.split("/")
            if len(parts) == 3:
                out["latency_min"], out["latency_avg"], out["latency_max"] = (_number(p) for p in parts)
        elif key == "zxid":
            out["zxid"] = int(value, 16) if value.lower().startswith("0x") else int(value)
        elif key == "mode":
            out["mode"] = value
        else:
            out[key.replace(" ", "_").replace("/", "_")] = _number(value)
    out["serving"] = bool(out.get("mode"))
    out.setdefault("mode", None)
    return out


def parse_mntr(text: str) -> dict:
    """Parse a ``mntr`` answer into ``{key: int | float | str}`` (``zk_`` prefixes kept).

    Also sets ``serving`` and ``whitelisted`` like :func:`parse_srvr`.
    """
    if NOT_WHITELISTED in text:
        return {"serving": False, "whitelisted": False}
    if NOT_SERVING in text:
        return {"serving": False, "whitelisted": True}
    out: dict = {"whitelisted": True}
    for line in text.splitlines():
        key, sep, value = line.partition("\t")
        if not sep:
            continue
        out[key.strip()] = value.strip() if key.strip() in ("zk_version", "zk_server_state") else _number(value.strip())
    out["serving"] = "zk_server_state" in out
    return out


def parse_conf(text: str) -> dict:
    """Parse a ``conf`` answer: ``whitelisted``, ``server_id`` (the answering server's myid, or
    None) and ``members``, ``{myid: "server.N=..."}`` of the ensemble's membership lines."""
    out: dict = {"whitelisted": NOT_WHITELISTED not in text, "server_id": None, "members": {}}
    for raw in text.splitlines():
        line = raw.strip()
        key, sep, value = line.partition("=")
        if sep and key == "serverId" and value.strip().isdigit():
            out["server_id"] = int(value)
        elif sep and key.startswith("server.") and key[7:].isdigit():
            out["members"][int(key[7:])] = line
    return out


def _unasked_members(servers: list[dict], missing: int, timeout: float) -> list[str]:
    """The members of the ensemble that are not among ``servers`` (those asked), named by the
    membership lines of a serving member's ``conf``; ``missing`` placeholders when no member
    answers ``conf`` (not whitelisted) or an asked one cannot say which member it is."""
    serving = sorted((s for s in servers if s["serving"]), key=lambda s: s["mode"] != "leader")

    def conf(server: dict) -> dict:
        try:
            return parse_conf(four_letter_word(server["host"], server["port"], "conf", timeout))
        except OSError:
            return {"whitelisted": False, "server_id": None, "members": {}}

    with ThreadPoolExecutor(max_workers=max(1, min(len(serving), 16))) as pool:
        confs = list(pool.map(conf, serving))
    members: dict[int, str] = next((c["members"] for c in confs if c["members"]), {})
    asked = {c["server_id"] for c in confs}
    if members and None not in asked and len(confs) == len(servers):
        return [line for sid, line in sorted(members.items()) if sid not in asked]
    why = "conf is not in 4lw.commands.whitelist" if not members else "not every member given answered conf"
    return [f"a voting member not in hosts (address unknown: {why})"] * missing


SERVER_KEYS = (
    "host",
    "port",
    "reachable",
    "mode",
    "serving",
    "zxid",
    "latency_min",
    "latency_avg",
    "latency_max",
    "outstanding_requests",
    "znode_count",
    "connections",
    "followers",
    "synced_followers",
    "version",
    "error",
)


def server_status(host: str, port: int, timeout: float = 5.0) -> dict:
    """What ``zk_info`` reports about one server, from ``srvr`` (and ``mntr`` on a leader)."""
    result: dict = dict.fromkeys(SERVER_KEYS)
    result.update(host=host, port=port, reachable=False, serving=False)
    try:
        text = four_letter_word(host, port, "srvr", timeout)
    except OSError as exc:
        result["error"] = f"cannot reach {format_hostport(host, port)}: {exc}"
        return result
    result["reachable"] = True
    if not text.strip():
        result["error"] = "empty answer to srvr (not a ZooKeeper client port, TLS-only, or 4lw disabled)"
        return result
    srvr = parse_srvr(text)
    if not srvr["whitelisted"]:
        result["error"] = "srvr is not in 4lw.commands.whitelist on this server: its state is unknown"
        return result
    if not srvr["serving"]:
        result["error"] = "not currently serving requests (no quorum, or still joining)"
        return result
    result.update(
        serving=True,
        mode=srvr.get("mode"),
        zxid=srvr.get("zxid"),
        latency_min=srvr.get("latency_min"),
        latency_avg=srvr.get("latency_avg"),
        latency_max=srvr.get("latency_max"),
        outstanding_requests=srvr.get("outstanding"),
        znode_count=srvr.get("node_count"),
        connections=srvr.get("connections"),
        version=srvr.get("version"),
    )
    if result["mode"] == "leader":
        try:
            mntr = parse_mntr(four_letter_word(host, port, "mntr", timeout))
        except OSError as exc:
            result["error"] = f"mntr failed: {exc}"
            return result
        if mntr.get("serving"):
            followers = mntr.get("zk_followers", mntr.get("zk_learners"))
            result["followers"] = followers if isinstance(followers, int) else None
            synced = mntr.get("zk_synced_followers")
            result["synced_followers"] = synced if isinstance(synced, int) else None
            quorum = mntr.get("zk_quorum_size")
            if isinstance(quorum, int):
                result["_quorum_size"] = quorum
        elif not mntr.get("whitelisted"):
            result["error"] = "mntr is not in 4lw.commands.whitelist: followers unknown"
    return result


def ensemble_status(hosts: str, timeout: float = 5.0) -> dict:
    """The health of an ensemble as seen from its members' ``srvr``/``mntr`` answers.

    ``quorum_healthy`` is true only when exactly one member leads (or the only member given is
    a serving standalone server) and a majority of the voting members serve: those given that
    serve, plus, for voting members missing from ``hosts``, the followers the leader reports in
    sync beyond the given ones. ``not_asked`` names the members missing from ``hosts`` (from
    ``conf``, when the leader counts more voters than were given).
    """
    pairs = split_hosts(hosts)
    with ThreadPoolExecutor(max_workers=min(len(pairs), 16)) as pool:
        servers = list(pool.map(lambda hp: server_status(hp[0], hp[1], timeout), pairs))
    leaders = [s for s in servers if s["mode"] == "leader" and s["serving"]]
    standalone = [s for s in servers if s["mode"] == "standalone" and s["serving"]]
    quorum_size = None
    for s in leaders:
        quorum_size = s.get("_quorum_size")
    for s in servers:
        s.pop("_quorum_size", None)
    if quorum_size is None:
        quorum_size = len([s for s in servers if s["mode"] != "observer"])
    voters_serving = len([s for s in servers if s["serving"] and s["mode"] in ("leader", "follower")])
    given_voters = len([s for s in servers if s["mode"] != "observer"])
    leader: dict | None
    not_asked: list[str] = []
    if len(servers) == 1 and standalone:
        leader = standalone[0]
        healthy = True
        quorum_size = 1
    else:
        leader = leaders[0] if len(leaders) == 1 else None
        synced = leader.get("synced_followers") if leader is not None else None
        if isinstance(synced, int) and quorum_size > given_voters:
            # members missing from hosts: the leader's synced followers beyond the given ones
            # that serve vouch for them (a member given but unreachable is never vouched for)
            followers_given = len([s for s in servers if s["serving"] and s["mode"] == "follower"])
            voters_serving += min(max(0, synced - followers_given), quorum_size - given_voters)
        healthy = len(leaders) == 1 and not standalone and voters_serving >= quorum_size // 2 + 1
        if leader is not None and quorum_size > given_voters:
            not_asked = _unasked_members(servers, quorum_size - given_voters, timeout)
    problems = []
    if len(leaders) > 1:
        problems.append(
            "more than one server reports Mode: leader ({}): these are not one ensemble".format(
                ", ".join(format_hostport(s["host"], s["port"]) for s in leaders)
            )
        )
    if standalone and len(servers) > 1:
        problems.append(
            "server(s) in standalone mode among several: {} (check myid and server.N lines)".format(
                ", ".join(format_hostport(s["host"], s["port"]) for s in standalone)
            )
        )
    return {
        "servers": servers,
        "leader": format_hostport(leader["host"], leader["port"]) if leader else None,
        "quorum_size": quorum_size,
        "serving_count": len([s for s in servers if s["serving"]]),
        "quorum_healthy": healthy,
        "not_asked": not_asked,
        "problems": problems,
    }


# ---------------------------------------------------------------------------------------------
# ACLs
# ---------------------------------------------------------------------------------------------

PERM_BITS = {"r": 1, "w": 2, "c": 4, "d": 8, "a": 16}
PERM_ORDER = "cdrwa"  # the order zkCli's getAcl prints
ALL_PERMS = 31
ACL_SCHEMES = ("world", "digest", "ip", "auth", "sasl", "x509")


def parse_perms(perms: object, field: str = "perms") -> int:
    """``"rwcda"`` (any order), ``"all"`` or an int 1..31 -> the permission bit mask."""
    if isinstance(perms, bool):
        raise ZkError(f"{field}: expected letters from 'rwcda', got {perms!r}")
    if isinstance(perms, int):
        if 0 < perms <= ALL_PERMS:
            return perms
        raise ZkError(f"{field}: permission mask {perms} is not in 1..31")
    if not isinstance(perms, str) or not perms.strip():
        raise ZkError(f"{field}: expected letters from 'rwcda' (read, write, create, delete, admin), got {perms!r}")
    text = perms.strip().lower()
    if text == "all":
        return ALL_PERMS
    mask = 0
    for ch in text:
        if ch not in PERM_BITS:
            raise ZkError(
                f"{field}: invalid permission {ch!r} in {perms!r}: use letters from 'rwcda' "
                "(r=read, w=write, c=create, d=delete, a=admin) or 'all'"
            )
        mask |= PERM_BITS[ch]
    return mask


def format_perms(mask: int) -> str:
    return "".join(ch for ch in PERM_ORDER if mask & PERM_BITS[ch])


def digest_credential(username: str, password: str) -> str:
    """``user:base64(sha1(user:password))``: the id ZooKeeper's digest scheme stores."""
    raw = f"{username}:{password}".encode()
    # SHA-1 is what ZooKeeper's DigestAuthenticationProvider defines; not our choice.
    digest = hashlib.sha1(raw).digest()  # noqa: S324
    return f"{username}:{base64.b64encode(digest).decode('ascii')}"


def auth_identities(auth_scheme: str | None, username: str | None, password: str | None) -> list[tuple[str, str]]:
    """The (scheme, id) pairs ZooKeeper puts in place of an ``auth`` ACL for this connection."""
    if not username:
        return []
    if auth_scheme == "sasl":
        return [("sasl", username)]
    return [("digest", digest_credential(username, password or ""))]


def normalize_acl(entries: list | None, identities: list[tuple[str, str]] | None = None) -> list[dict]:
    """Validate the user's ``acl`` list and return sorted, unique ``{scheme, id, perms}`` dicts.

    ``digest`` entries may give ``username`` and ``password`` instead of a hashed ``id``;
    ``auth`` entries expand to ``identities`` (what the server does with them).
    """
    if entries is None:
        return []
    if not isinstance(entries, list) or not entries:
        raise ZkError("acl: must be a non-empty list of {scheme, id, perms} (omit acl to leave ACLs alone)")
    seen: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(entries):
        where = f"acl[{i}]"
        if not isinstance(entry, dict):
            raise ZkError(f"{where}: expected a dict with scheme, id and perms, got {entry!r}")
        mask = parse_perms(entry.get("perms"), f"{where}.perms")
        for pair in _acl_ids(entry, where, identities or []):
            seen[pair] = seen.get(pair, 0) | mask
    return sorted(({"scheme": s, "id": i, "perms": format_perms(m)} for (s, i), m in seen.items()), key=acl_key)


def _acl_ids(entry: dict, where: str, identities: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (scheme, id) pairs one user ACL entry stands for."""
    scheme = entry.get("scheme") or "world"
    ident = entry.get("id")
    if scheme not in ACL_SCHEMES:
        raise ZkError(f"{where}.scheme: {scheme!r} is not one of {', '.join(ACL_SCHEMES)}")
    if scheme == "world":
        if (ident or "anyone") != "anyone":
            raise ZkError(f"{where}.id: the world scheme only has the id 'anyone', got {ident!r}")
        return [("world", "anyone")]
    if scheme == "auth":
        if not identities:
            raise ZkError(
                f"{where}: the auth scheme grants the identity this connection authenticates as; "
                "set auth_username/auth_password (or use a digest entry)"
            )
        return list(identities)
    if scheme == "digest" and entry.get("username"):
        if ident:
            raise ZkError(f"{where}: give either id (user:base64-sha1) or username/password, not both")
        if entry.get("password") is None:
            raise ZkError(f"{where}.password: required with username for the digest scheme")
        ident = digest_credential(entry["username"], entry["password"])
    if not ident:
        raise ZkError(f"{where}.id: required for the {scheme} scheme")
    if scheme == "digest" and ":" not in ident:
        raise ZkError(f"{where}.id: the digest scheme needs 'user:base64(sha1(user:password))' or username/password")
    if scheme == "ip" and not re.match(r"^[0-9A-Fa-f:.]+(/\d{1,3})?$", ident):
        raise ZkError(f"{where}.id: {ident!r} is not an address or address/bits for the ip scheme")
    return [(scheme, ident)]


def acl_key(entry: dict) -> tuple[str, str, str]:
    return (entry["scheme"], entry["id"], entry["perms"])


def acl_from_kazoo(acls: list) -> list[dict]:
    """kazoo ACL objects -> sorted ``{scheme, id, perms}`` dicts."""
    out = [{"scheme": a.id.scheme, "id": a.id.id, "perms": format_perms(a.perms)} for a in acls]
    return sorted(out, key=acl_key)


def acl_to_kazoo(entries: list[dict]) -> list:
    return [ACL(parse_perms(e["perms"]), Id(e["scheme"], e["id"])) for e in entries]


def acl_equal(desired: list[dict], current: list[dict]) -> bool:
    """Order-insensitive comparison of normalized ACL lists.

    ZooKeeper (3.5+) redacts digest ids to ``user:x`` for a client without the ``a`` (admin)
    permission on the node. Such a client cannot check the password hash, so digest entries are
    then compared by user and permissions only (it could not change the ACL anyway).
    """
    redacted = any(e["scheme"] == "digest" and e["id"].endswith(":x") for e in current)

    def key(entry: dict) -> tuple[str, str, str]:
        ident = entry["id"]
        if redacted and entry["scheme"] == "digest":
            ident = ident.split(":", 1)[0]
        return (entry["scheme"], ident, format_perms(parse_perms(entry["perms"])))

    return sorted(map(key, desired)) == sorted(map(key, current))


# ---------------------------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------------------------

PROTECTED_PATHS = ("/", "/zookeeper")


def validate_path(path: object, field: str = "path") -> str:
    if not isinstance(path, str) or not path:
        raise ZkError(f"{field}: required, an absolute znode path like /mesos")
    if not path.startswith("/"):
        raise ZkError(f"{field}: {path!r} must start with '/' (znode paths are absolute)")
    if path != "/" and path.endswith("/"):
        raise ZkError(f"{field}: {path!r} must not end with '/'")
    if "\x00" in path:
        raise ZkError(f"{field}: {path!r} contains a NUL character")
    if path != "/":
        for part in path[1:].split("/"):
            if part in ("", ".", ".."):
                raise ZkError(f"{field}: {path!r} has an empty, '.' or '..' component")
    return path


def is_protected(path: str) -> bool:
    """``/``, ``/zookeeper`` and everything below ``/zookeeper`` belong to ZooKeeper itself."""
    return path in PROTECTED_PATHS or path.startswith("/zookeeper/")


def parent_paths(path: str) -> list[str]:
    """``/a/b/c`` -> ``["/a", "/a/b"]``."""
    parts = path.strip("/").split("/")
    return ["/" + "/".join(parts[:i]) for i in range(1, len(parts))]


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


def value_to_bytes(value: str | None, value_b64: str | None) -> bytes | None:
    if value is not None and value_b64 is not None:
        raise ZkError("value and value_b64 are mutually exclusive")
    if value is not None:
        return value.encode("utf-8")
    if value_b64 is not None:
        try:
            return base64.b64decode(value_b64, validate=True)
        except ValueError as exc:
            raise ZkError(f"value_b64: not valid base64 ({exc})") from exc
    return None


# xid and op type precede every request body on the wire.
REQUEST_HEADER_SIZE = 8


def multi_create_size(creates: list[tuple[str, bytes, list]]) -> int:
    """Bytes of the ``multi`` request creating ``(path, data, kazoo_acl)`` nodes, as the server counts them.

    The server drops the connection when a request exceeds its ``jute.maxbuffer``; measured
    against ZooKeeper 3.8: a request of exactly jute.maxbuffer bytes passes, one byte more does not.
    """
    ops = [Create(path, data, acl, 0) for path, data, acl in creates]
    return REQUEST_HEADER_SIZE + len(Transaction(ops).serialize())


# A multi's closing op header (type -1, done, err), after its last op.
MULTI_END_SIZE = 9


def delete_op_size(path: str) -> int:
    """Bytes a ``delete`` adds to a ``multi`` request: op header (type, done, err), path, version."""
    return 9 + 4 + len(path.encode("utf-8")) + 4


def delete_batches(paths: list[str], max_bytes: int, max_ops: int = 1000) -> list[list[str]]:
    """``paths`` cut, in order, into ``multi`` deletes of at most ``max_ops`` ops and ``max_bytes``
    request bytes (the servers' ``jute.maxbuffer``: a batch of long paths cut by count alone
    is dropped by the server as a lost connection). Raises ZkError, before anything is sent,
    when one path alone would make a request larger than ``max_bytes``."""
    empty = REQUEST_HEADER_SIZE + MULTI_END_SIZE
    batches: list[list[str]] = []
    batch: list[str] = []
    size = empty
    for path in paths:
        op = delete_op_size(path)
        if empty + op > max_bytes:
            raise ZkError(
                f"path: deleting {path[:60]}... ({len(path.encode('utf-8'))} bytes of path) alone needs a request "
                f"of {empty + op} bytes, more than max_value_size {max_bytes} (the servers' jute.maxbuffer); "
                "raise max_value_size to the servers' jute.maxbuffer. Nothing was deleted"
            )
        if batch and (size + op > max_bytes or len(batch) >= max_ops):
            batches.append(batch)
            batch, size = [], empty
        batch.append(path)
        size += op
    if batch:
        batches.append(batch)
    return batches


def set_data_size(path: str, data: bytes) -> int:
    """Bytes of the ``setData`` request for ``data`` at ``path``."""
    return REQUEST_HEADER_SIZE + len(SetData(path, data, -1).serialize())


def describe_value(data: bytes | None) -> dict:
    """``{value, value_b64}``: ``value`` is the text when the bytes are UTF-8, else None."""
    if data is None:
        return {"value": None, "value_b64": None}
    try:
        text: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return {"value": text, "value_b64": base64.b64encode(data).decode("ascii")}


def stat_to_dict(stat: object) -> dict:
    if stat is None:
        return {}
    out = {
        "version": stat.version,  # type: ignore[attr-defined]
        "cversion": stat.cversion,  # type: ignore[attr-defined]
        "aversion": stat.aversion,  # type: ignore[attr-defined]
        "ctime": stat.ctime,  # type: ignore[attr-defined]
        "mtime": stat.mtime,  # type: ignore[attr-defined]
        "czxid": stat.czxid,  # type: ignore[attr-defined]
        "mzxid": stat.mzxid,  # type: ignore[attr-defined]
        "pzxid": stat.pzxid,  # type: ignore[attr-defined]
        "ephemeral_owner": stat.ephemeralOwner,  # type: ignore[attr-defined]
        "data_length": stat.dataLength,  # type: ignore[attr-defined]
        "num_children": stat.numChildren,  # type: ignore[attr-defined]
    }
    out["numChildren"] = out["num_children"]
    return out


# ---------------------------------------------------------------------------------------------
# Module parameters and the kazoo client
# ---------------------------------------------------------------------------------------------


def zookeeper_argument_spec(client: bool = True) -> dict:
    """Connection options; ``client=False`` gives only hosts and timeout (4lw, no kazoo).

    Documented by the ``orchestrator.platform.zookeeper`` doc fragment (``client=False``) plus
    ``orchestrator.platform.zookeeper.client`` (the rest).
    """
    spec: dict = {
        "hosts": {"type": "str", "required": True},
        "timeout": {"type": "float", "default": 5.0},
    }
    if client:
        spec.update(
            auth_scheme={"type": "str", "choices": ["digest", "sasl"], "default": "digest"},
            auth_username={"type": "str"},
            auth_password={"type": "str", "no_log": True},
            sasl_mechanism={"type": "str", "choices": ["DIGEST-MD5", "GSSAPI"], "default": "DIGEST-MD5"},
            sasl_service={"type": "str", "default": "zookeeper"},
            use_ssl={"type": "bool", "default": False},
            ca={"type": "path"},
            certfile={"type": "path"},
            keyfile={"type": "path"},
            keyfile_password={"type": "str", "no_log": True},
            verify_certs={"type": "bool", "default": True},
        )
    return spec


def zookeeper_required_together() -> list[list[str]]:
    return [["auth_username", "auth_password"], ["certfile", "keyfile"]]


def missing_library(params: dict) -> tuple[str, str | None] | None:
    """The Python library these connection parameters need and lack, with its import error
    (for the module's ``missing_required_lib``), or None. No ``ansible`` import here: the
    zk_sync service imports this file without ansible-core."""
    if not HAS_KAZOO:
        return "kazoo", KAZOO_IMPORT_ERROR
    if params.get("auth_username") and params.get("auth_scheme") == "sasl" and not HAS_PURESASL:
        return "pure-sasl (for auth_scheme=sasl)", PURESASL_IMPORT_ERROR
    return None


def client_kwargs(params: dict) -> dict:
    """KazooClient keyword arguments from module parameters (no secrets logged by kazoo)."""
    logger = logging.getLogger("ansible_collections.orchestrator.platform.zk")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
    kwargs: dict = {
        "hosts": params["hosts"],
        "timeout": params["timeout"],
        "connection_retry": {"max_tries": 2, "delay": 0.2, "max_delay": 1.0},
        "command_retry": {"max_tries": 2, "delay": 0.2, "max_delay": 1.0},
        "logger": logger,
    }
    username = params.get("auth_username")
    if username:
        if params.get("auth_scheme") == "sasl":
            kwargs["sasl_options"] = {
                "mechanism": params.get("sasl_mechanism") or "DIGEST-MD5",
                "service": params.get("sasl_service") or "zookeeper",
                "username": username,
                "password": params.get("auth_password") or "",
            }
        else:
            kwargs["auth_data"] = [("digest", f"{username}:{params.get('auth_password') or ''}")]
    if params.get("use_ssl"):
        kwargs.update(
            use_ssl=True,
            ca=params.get("ca"),
            certfile=params.get("certfile"),
            keyfile=params.get("keyfile"),
            keyfile_password=params.get("keyfile_password"),
            verify_certs=params.get("verify_certs", True),
        )
    return kwargs


def connect(params: dict, connection_retry: dict | None = None):
    """A started KazooClient; raises ZkError with a clear message when it cannot connect.

    ``connection_retry`` replaces the default reconnection policy (two tries, right for a
    task) with kazoo ``KazooRetry`` options, e.g. ``{"max_tries": -1, ...}`` for a
    long-running client that must outlive a leader election. The first connection must
    still succeed within ``params["timeout"]``.
    """
    kwargs = client_kwargs(params)
    if connection_retry is not None:
        kwargs["connection_retry"] = connection_retry
    client = KazooClient(**kwargs)
    try:
        client.start(timeout=params["timeout"])
    except KazooTimeoutError as exc:
        _discard(client)
        raise ZkUnavailable(
            f"cannot connect to ZooKeeper at {params['hosts']} within {params['timeout']}s "
            "(servers down, no quorum, wrong ports, or TLS/plain mismatch)"
        ) from exc
    except kazoo_exceptions.AuthFailedError as exc:
        _discard(client)
        raise ZkError(
            f"authentication as {params.get('auth_username')!r} failed ({params.get('auth_scheme') or 'digest'})"
        ) from exc
    except Exception:
        _discard(client)
        raise
    return client


def _discard(client) -> None:
    """Stop (a retrying connection thread may still run) and close a client that failed to start.

    Best effort: the caller's error is the one worth reporting.
    """
    with contextlib.suppress(Exception):
        client.stop()
    with contextlib.suppress(Exception):
        client.close()


def close(client) -> None:
    if client is None:
        return
    try:
        client.stop()
    finally:
        client.close()


_EXPLANATIONS = {
    "NoAuthError": "not authorized{where}: the znode's ACL does not grant this operation to {ident}",
    "AuthFailedError": "authentication failed{where}",
    "BadVersionError": "{path} was changed by someone else while this task ran; nothing more was written, re-run",
    "NotEmptyError": "{path} has children; set recursive: true to delete them too",
    "NoNodeError": "znode missing{where}",
    "InvalidACLError": "ZooKeeper rejected the ACL{where} (InvalidACL)",
    "ConnectionLoss": "connection to ZooKeeper lost{where}",
    "SessionExpiredError": "ZooKeeper session expired{where}",
    "MarshallingError": "ZooKeeper refused the request{where}: too large (jute.maxbuffer) or malformed",
}


def explain(exc: BaseException, path: str | None = None, params: dict | None = None) -> str:
    """A user-facing message for a kazoo exception."""
    where = f" on {path}" if path else ""
    who = (params or {}).get("auth_username")
    ident = f"user {who!r}" if who else "an unauthenticated client (no auth_username given)"
    for cls in type(exc).__mro__:
        template = _EXPLANATIONS.get(cls.__name__)
        if template and cls.__module__.startswith("kazoo"):
            return template.format(where=where, path=path, ident=ident)
    return f"{type(exc).__name__}{where}: {exc}"
