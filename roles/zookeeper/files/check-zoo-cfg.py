# Installed by the orchestrator.platform.zookeeper role. GPL-3.0-or-later.
"""Check a zoo.cfg before it replaces the live one (used as the template's `validate:`).

ZooKeeper ships no configuration checker and QuorumPeerConfig cannot be run on its own, so
this checks what makes a member fail to start or leave the quorum:
key=value syntax, duplicate keys, the required keys, positive integers where ZooKeeper wants
them, ports in range, well-formed `server.N=host:peer:election[:participant|:observer][;[addr:]port]`
lines with N in 1-255 and no id, peer or election address used twice, at least one voting
member, and (with --myid) that this member's id is in the server list and that
`peerType=observer` agrees with its own server line.

Usage: check-zoo-cfg [--myid N] FILE. Exit 0 when valid, 1 with one line per problem.
"""

import re
import sys

INT_KEYS = (
    "tickTime",
    "initLimit",
    "syncLimit",
    "clientPort",
    "maxClientCnxns",
    "admin.serverPort",
    "autopurge.snapRetainCount",
    "autopurge.purgeInterval",
    "secureClientPort",
    "snapCount",
)
POSITIVE_KEYS = ("tickTime", "initLimit", "syncLimit")
PORT_KEYS = ("clientPort", "admin.serverPort", "secureClientPort")
BOOL_KEYS = ("admin.enableServer", "reconfigEnabled", "standaloneEnabled", "quorumListenOnAllIPs", "skipACL")
SERVER_RE = re.compile(
    r"^(?P<host>[^:;\s]+):(?P<peer>\d+):(?P<election>\d+)(?::(?P<role>participant|observer))?"
    r"(?:;(?:(?P<caddr>[^:;\s]+):)?(?P<cport>\d+))?$"
)


def check(text, myid=None):
    problems = []
    keys = {}
    servers = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            problems.append("line %d: not key=value: %r" % (number, line))
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        if not key or not value:
            problems.append("line %d: empty key or value: %r" % (number, line))
            continue
        if key in keys:
            problems.append("line %d: duplicate key %s" % (number, key))
        keys[key] = value
        if key.startswith("server."):
            ident = key[len("server.") :]
            if not ident.isdigit() or not 1 <= int(ident) <= 255:
                problems.append("line %d: server id %r is not in 1-255" % (number, ident))
                continue
            match = SERVER_RE.match(value)
            if not match:
                problems.append("line %d: %s=%s is not host:peer:election[:observer][;port]" % (number, key, value))
                continue
            for port_name in ("peer", "election", "cport"):
                port = match.group(port_name)
                if port is not None and not 1 <= int(port) <= 65535:
                    problems.append("line %d: %s port %s out of range" % (number, port_name, port))
            servers[int(ident)] = match
    for key in INT_KEYS:
        if key in keys and not re.match(r"^-?\d+$", keys[key]):
            problems.append(f"{key}={keys[key]} is not an integer")
        elif key in POSITIVE_KEYS and key in keys and int(keys[key]) <= 0:
            problems.append(f"{key} must be positive")
        elif key in PORT_KEYS and key in keys and not 1 <= int(keys[key]) <= 65535:
            problems.append(f"{key}={keys[key]} out of range")
    for key in BOOL_KEYS:
        if key in keys and keys[key] not in ("true", "false"):
            problems.append(f"{key}={keys[key]} is not true or false")
    for key in ("tickTime", "dataDir"):
        if key not in keys:
            problems.append(f"missing required key {key}")
    if "clientPort" not in keys and not any(m.group("cport") for m in servers.values()):
        problems.append("missing clientPort (and no ;port on the server lines)")
    if "peerType" in keys and keys["peerType"] not in ("participant", "observer"):
        problems.append("peerType={} is not participant or observer".format(keys["peerType"]))
    if servers:
        for key in ("initLimit", "syncLimit"):
            if key not in keys:
                problems.append(f"an ensemble needs {key}")
        seen = {}
        for ident, match in sorted(servers.items()):
            for port_name in ("peer", "election"):
                endpoint = "{}:{}".format(match.group("host"), match.group(port_name))
                if endpoint in seen:
                    problems.append("server.%d and server.%d both use %s" % (seen[endpoint], ident, endpoint))
                seen[endpoint] = ident
        if not any(m.group("role") != "observer" for m in servers.values()):
            problems.append("no voting member: every server line is an observer")
        if myid is not None:
            if myid not in servers:
                problems.append("this member's myid %d is not in the server list %s" % (myid, sorted(servers)))
            else:
                line_observer = servers[myid].group("role") == "observer"
                if line_observer != (keys.get("peerType") == "observer"):
                    problems.append(
                        "server.%d's role and peerType=%s disagree" % (myid, keys.get("peerType", "participant"))
                    )
    return problems


def main(argv):
    myid = None
    args = argv[1:]
    if len(args) == 3 and args[0] == "--myid" and args[1].isdigit():
        myid = int(args[1])
        args = args[2:]
    if len(args) != 1:
        sys.stderr.write("usage: check-zoo-cfg [--myid N] FILE\n")
        return 2
    with open(args[0], encoding="utf-8") as handle:
        problems = check(handle.read(), myid)
    for problem in problems:
        sys.stderr.write(f"zoo.cfg: {problem}\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
