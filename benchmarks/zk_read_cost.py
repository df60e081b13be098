#!/usr/bin/env python
"""What reading a tree costs the ZooKeeper server, per kind of read: the bound of zk_sync's copy.

zk_sync's copy reads every source node with ``getData`` and ``getChildren`` inside one
``multiRead`` and one ``getACL`` request of its own (``multiRead`` cannot carry ``getACL``,
and no other request returns ACLs). This script starts one loopback ensemble of 3 JVMs (the
test fixture's), writes the benchmark's tree, and reads every node of it through one
pipelined session on one member, in chunks of 2,000 nodes, once per kind of read:

* ``getACL`` per node, ``getData`` per node (a request of its own each);
* ``getData``, ``getChildren``, and both, per node inside ``multiRead`` requests of 800 ops;
* the copy's reads (``getACL`` per node plus ``multiRead`` of ``getData`` + ``getChildren``).

For each it prints nodes/s, the CPU seconds the three JVMs used (from /proc) and this
process used, the JVMs' microseconds per node, and the JVM CPU as a ratio of the copy's
reads measured in the same round, then how the member's CPU split over its threads while it
answered the last round's ``getACL`` requests. The first round also warms the JVMs' JIT up.

Usage (from the repository, after ``. tools/env``)::

    python benchmarks/zk_read_cost.py [--nodes 40000] [--rounds 3] [--heap 512m] [--jvm fixture|role]

Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import collections
import logging
import os
import sys
import time
from collections.abc import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import zk_sync as bench  # noqa: E402  # the benchmark's helpers (ensembles, tree, CPU from /proc)
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync_wire as wire  # noqa: E402
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync_wire_sessions as wire_sessions  # noqa: E402

CHUNK = 2000  # nodes per pipelined exchange, as the copy's reads (Side._fetch_on)
MULTI_OPS = 800  # ops per multiRead, as the mirror's reads (Side.read_ordered)

Requests = list[tuple[int, bytes]]


def each(op: int) -> Callable[[list[str]], Requests]:
    payload = wire.get_data_payload if op == wire.OP_GET_DATA else wire.path_payload  # getData: + watch flag

    def make(paths: list[str]) -> Requests:
        return [(op, payload(p)) for p in paths]

    return make


def multi_read(*ops: int) -> Callable[[list[str]], Requests]:
    def make(paths: list[str]) -> Requests:
        items = [(op, p) for p in paths for op in ops]
        return [
            (wire.OP_MULTI_READ, wire.MultiRead(items[i : i + MULTI_OPS]).serialize())
            for i in range(0, len(items), MULTI_OPS)
        ]

    return make


def copy_reads(paths: list[str]) -> Requests:
    return each(wire.OP_GET_ACL)(paths) + multi_read(wire.OP_GET_DATA, wire.OP_GET_CHILDREN)(paths)


GET_ACL_EACH = each(wire.OP_GET_ACL)  # the kind whose per-thread split is printed
KINDS: list[tuple[str, Callable[[list[str]], Requests]]] = [
    ("copy's reads: getACL each + multiRead getData+getChildren", copy_reads),
    ("getACL, a request per node", GET_ACL_EACH),
    ("getData, a request per node", each(wire.OP_GET_DATA)),
    ("multiRead getData+getChildren", multi_read(wire.OP_GET_DATA, wire.OP_GET_CHILDREN)),
    ("multiRead getData", multi_read(wire.OP_GET_DATA)),
    ("multiRead getChildren", multi_read(wire.OP_GET_CHILDREN)),
]


def thread_cpu(pid: int) -> collections.Counter[str]:
    """CPU ticks of each of a JVM's threads so far, by thread name (numbers dropped)."""
    ticks: collections.Counter[str] = collections.Counter()
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm", encoding="utf-8") as f:
                name = f.read().strip().rstrip("0123456789-")
            ticks[name] += bench.cpu_ticks(f"/proc/{pid}/task/{tid}/stat")
        except OSError:  # the thread ended meanwhile
            continue
    return ticks


def read_all(session: wire_sessions.WireSession, paths: list[str], make: Callable[[list[str]], Requests]) -> None:
    for i in range(0, len(paths), CHUNK):
        for err, _body in session.call_many(make(paths[i : i + CHUNK])):
            if err:
                raise RuntimeError(f"a read failed with ZooKeeper error {err}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--nodes", type=int, default=40_000)
    ap.add_argument("--rounds", type=int, default=3)
    bench.add_jvm_options(ap)
    args = ap.parse_args()
    bench.use_heap(args.heap, args.jvm)
    ens = bench.ensemble("readcost")
    ens.start()
    try:
        c = bench.client(ens.connect_string)
        bench.multi_write(c, bench.tree_ops(bench.ROOT, args.nodes))
        paths = bench.subtree(c, bench.ROOT)
        c.stop()
        c.close()
        member = ens.members[0]
        host, port = member.hostport.rsplit(":", 1)
        session = wire_sessions.WireSession([(host, int(port))], [("digest", f"{bench.SUPER[0]}:{bench.SUPER[1]}")])
        session.connect()
        pids = [m.pid for m in ens.members]
        print(f"{len(paths):,} nodes read through one pipelined session on member {member.myid} ({member.mode()})")
        print("| round: reads | nodes/s | JVMs CPU s | JVMs us/node | this process CPU s | JVM CPU / copy's reads |")
        print("|---|---|---|---|---|---|")
        split: collections.Counter[str] = collections.Counter()
        for r in range(args.rounds):
            copy_cpu = None
            for name, make in KINDS:
                threads0 = thread_cpu(member.pid) if make is GET_ACL_EACH else None
                jvm0, own0, t0 = bench.cpu_seconds(pids), time.process_time(), time.monotonic()
                read_all(session, paths, make)
                wall = time.monotonic() - t0
                jvm = bench.cpu_seconds(pids) - jvm0
                own = time.process_time() - own0
                if threads0 is not None:
                    split = thread_cpu(member.pid)
                    split.subtract(threads0)
                copy_cpu = jvm if copy_cpu is None else copy_cpu
                print(
                    f"| {r + 1}: {name} | {len(paths) / wall:,.0f} | {jvm:.2f} | {jvm / len(paths) * 1e6:.0f} "
                    f"| {own:.2f} | {jvm / copy_cpu:.2f} |",
                    flush=True,
                )
        session.close()
        total = sum(v for v in split.values() if v > 0) or 1
        shares = ", ".join(f"{k} {v / total:.0%}" for k, v in split.most_common() if v / total >= 0.02)
        print(f"\nmember {member.myid}'s CPU by thread during the last round's getACL reads: {shares}")
    finally:
        logging.getLogger("kazoo").setLevel(logging.ERROR)
        ens.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
