#!/usr/bin/env python
"""Benchmark of the zk_sync engine on two loopback ZooKeeper ensembles (3 JVMs each).

Prints one table (markdown) with, all from the same run:

* initial copy of a generated tree (default 100,000 znodes of 100 bytes, a few top-level
  dirs with hundreds of children each, 3-4 levels, some digest ACLs and sequential
  children): nodes/s of the engine, of zk-shell's ``mirror`` (on a subtree: it is synchronous
  and slow) and of the raw write bound (pipelined batched ``multi`` creates, no reading);
* verify time for the whole tree;
* mirror lag measured from OUTSIDE the engine: a probe writes timestamps on the source (its
  own session) and watches the target, while a writer in another process sustains 500 then
  1,000 changes/s; beside it the watch floor (the same probe watching the source itself, no
  mirror, same writer load) and the relay floor (the probe's node alone carried by the
  shortest possible mirror: watch, read, write, one request each, while the source gets the
  same load and the target as many changes in multis as the engine's batches carry);
* CPU seconds of the engine, the source JVMs and the target JVMs during the copy, and the
  cores each used (and how busy the machine was) during every lag and floor measurement;
* peak RSS of the engine process in each phase (each phase runs in its own process).

Usage (from the repository, after ``. tools/env``)::

    python benchmarks/zk_sync.py [--nodes 100000] [--lag-seconds 60] [--floor-seconds 30]
        [--zkshell /tmp/zkshell-venv/bin/zk-shell] [--zkshell-nodes 5000] [--rates 500,1000]
        [--engine-log FILE]

Numbers, not assertions: tests never depend on timings.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
# The work tree's test machinery (tests/fixtures, tests/support) as tests.*, also in an engine
# phase that runs another revision's collection (PYTHONPATH: benchmarks/zk_sync_ab.py).
sys.path.insert(0, os.path.dirname(HERE))

from ansible_collections.orchestrator.platform.plugins.module_utils import _zk  # noqa: E402
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync_wire as wire  # noqa: E402
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync_wire_sessions as wire_sessions  # noqa: E402
from kazoo.client import KazooClient  # noqa: E402
from kazoo.protocol.serialization import Create, Delete, GetData, SetData, Transaction  # noqa: E402
from kazoo.security import OPEN_ACL_UNSAFE, make_digest_acl  # noqa: E402

from tests.fixtures import zk_ensemble  # noqa: E402  # the test fixture: real JVMs on free loopback ports
from tests.fixtures.zk_ensemble import ZkEnsemble  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402
from tests.support.zk_client import super_digest  # noqa: E402

try:  # the engine as modules (issue 20)
    from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_config import build_config
    from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_engine import SyncEngine
    from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_mirror import Mirror
except ImportError:  # a baseline revision from before the split (zk_sync_ab.py --baseline)
    from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync as _engine_module

    build_config, SyncEngine = _engine_module.build_config, _engine_module.SyncEngine
    Mirror = None
use_poll_select = getattr(wire, "use_poll_select", None) or wire.speed_up

SUPER = ("super", "bench-secret")
ROOT = "/bench"
# The relay floor's load on the target stands for the mirror's writes: as many changes per
# second as the source gets, in multis of as many changes as the engine's batches carried at
# 1,000 changes/s (4-10, instrumented: benchmarks/results/zk_sync.md), on a tree of its own.
RELAY_TARGET_BATCH = 5
RELAY_TARGET_NODES = 5000


# The test fixture's JVM flags that only make tests start faster (not how ZooKeeper runs).
FIXTURE_ONLY_FLAGS = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")


def use_heap(heap: str, jvm: str = "fixture") -> None:
    """Start the ensembles' JVMs with ``heap`` instead of the test fixture's 128 MB.

    The fixture's heap is plenty for tests; 100,000 nodes plus the raw-bound tree made the
    target's heap run out (OutOfMemoryError, GC pauses that dropped sessions). With ``jvm``
    "role" the JVMs also run as the collection's zookeeper role runs them (``-Xms`` =
    ``-Xmx``, the JVM's default JIT and garbage collector) instead of with the fixture's
    fast-start flags (:data:`FIXTURE_ONLY_FLAGS`: C1 JIT only, serial GC), which "fixture"
    (the default) keeps. A wrapper swaps the flags without touching the fixture.
    """
    drop = " | ".join(FIXTURE_ONLY_FLAGS) if jvm == "role" else "--never--"
    xms = f"-Xms{heap}" if jvm == "role" else "-Xms16m"
    wrapper = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"zk-bench-java-{os.getpid()}.sh")
    with open(wrapper, "w", encoding="ascii") as f:
        f.write(
            "#!/bin/sh\n"
            'for a in "$@"; do shift; case "$a" in '
            f'-Xmx128m) set -- "$@" "-Xmx{heap}";; -Xms16m) set -- "$@" "{xms}";; {drop}) ;; '
            '*) set -- "$@" "$a";; esac; done\n'
            f'exec {zk_ensemble.JAVA} "$@"\n'
        )
    os.chmod(wrapper, 0o755)  # an executable script
    zk_ensemble.JAVA = wrapper


def add_jvm_options(ap: argparse.ArgumentParser) -> None:
    """``--heap`` and ``--jvm``, which every benchmark takes (see :func:`use_heap`)."""
    ap.add_argument("--heap", default="512m", help="-Xmx of each ZooKeeper JVM")
    ap.add_argument(
        "--jvm",
        choices=("fixture", "role"),
        default="fixture",
        help="ZooKeeper JVM flags: the test fixture's (default, as in the earlier tables), or the zookeeper role's",
    )


def ensemble(name: str) -> ZkEnsemble:
    """A loopback ensemble of 3 JVMs as every benchmark runs it: the benchmark's super user,
    requests up to 1 MB. Call :func:`use_heap` first."""
    cfg = {"DigestAuthenticationProvider.superDigest": super_digest(*SUPER), "jute.maxbuffer": "1048575"}
    return ZkEnsemble(3, name=name, extra_config=cfg)


def client(hosts: str) -> KazooClient:
    c = KazooClient(hosts=hosts, timeout=10, auth_data=[("digest", f"{SUPER[0]}:{SUPER[1]}")])
    c.start(timeout=30)
    use_poll_select(c)
    return c


def params(hosts: str) -> dict:
    return {"hosts": hosts, "timeout": 10.0, "auth_username": SUPER[0], "auth_password": SUPER[1]}


def rss_peak_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def cpu_ticks(stat_path: str) -> int:
    """User + system clock ticks from a /proc ``stat`` file (of a process or of a thread)."""
    with open(stat_path, encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def cpu_seconds(pids: list[int] | list[int | None]) -> float:
    """User + system CPU seconds the processes have used so far."""
    return sum(cpu_ticks(f"/proc/{pid}/stat") for pid in pids) / os.sysconf("SC_CLK_TCK")


def run_queue_wait(pids: list[int] | list[int | None]) -> float:
    """Seconds the processes' threads have spent runnable but waiting for a CPU so far
    (/proc/<pid>/task/<tid>/schedstat, second field; threads that ended are not counted)."""
    waited = 0
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as f:
                    waited += int(f.read().split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return waited / 1e9


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine so far."""
    with open("/proc/stat", encoding="ascii") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)


class CpuShare:
    """Where the machine's CPU goes from now until :meth:`cores`: per group of processes, in
    cores (CPU seconds per second of wall time), and what the machine's cores did in all."""

    def __init__(self, groups: dict[str, list[int | None]]) -> None:
        self.groups = groups
        self.wall = time.monotonic()
        self.machine = machine_cpu()
        self.cpu = {name: cpu_seconds(pids) for name, pids in groups.items()}
        self.waited = {name: run_queue_wait(pids) for name, pids in groups.items()}

    def cores(self) -> dict[str, float]:
        """``{group: cores}``, ``"other"`` (every other process and the kernel: the load
        generators, the probe), ``"busy"`` (the share of all cores that was busy) and
        ``"wait <group>"``: the group's threads' time runnable but waiting for a CPU, in
        seconds per second (where the time goes under contention: scheduling)."""
        wall = max(1e-9, time.monotonic() - self.wall)
        busy, total = (a - b for a, b in zip(machine_cpu(), self.machine, strict=True))
        out = {name: (cpu_seconds(pids) - self.cpu[name]) / wall for name, pids in self.groups.items()}
        out["busy"] = busy / max(1, total)
        out["other"] = out["busy"] * (os.cpu_count() or 1) - sum(out[name] for name in self.groups)
        for name, pids in self.groups.items():
            out[f"wait {name}"] = (run_queue_wait(pids) - self.waited[name]) / wall
        return out


def fmt_cores(share: dict[str, float]) -> str:
    parts = [f"{name} {cores:.2f}" for name, cores in share.items() if name != "busy" and not name.startswith("wait ")]
    waits = [f"{name[5:]} {v * 1000:.0f}" for name, v in share.items() if name.startswith("wait ")]
    return (
        f"{', '.join(parts)} cores; the machine's {os.cpu_count()} cores {share['busy']:.0%} busy; "
        f"waited for a CPU (ms per s): {', '.join(waits)}"
    )


# ---------------------------------------------------------------------------------------------
# Tree generation and the raw write bound
# ---------------------------------------------------------------------------------------------


def tree_ops(root: str, nodes: int) -> list:
    """Create ops in pre-order: 4 dirs, ~250 groups each, ~100 leaves per group (100 bytes)."""
    acl_alice = [make_digest_acl("alice", "alice-pw", all=True)]
    payload = bytes(random.Random(7).getrandbits(8) for _i in range(100))
    ops = [Create(root, b"bench", OPEN_ACL_UNSAFE, 0)]
    tops = 4
    per_group = 100
    groups = max(1, (nodes - 1 - tops) // (tops * (per_group + 1)))
    for t in range(tops):
        ops.append(Create(f"{root}/d{t}", b"dir", OPEN_ACL_UNSAFE, 0))
        for g in range(groups):
            gp = f"{root}/d{t}/g{g:04d}"
            acl = acl_alice if g % 10 == 0 else OPEN_ACL_UNSAFE
            ops.append(Create(gp, payload, acl, 0))
            for n in range(per_group):
                if g % 50 == 1:  # sequential children (their counters must survive)
                    ops.append(Create(f"{gp}/s-", payload, OPEN_ACL_UNSAFE, 2))
                else:
                    ops.append(Create(f"{gp}/n{n:03d}", payload, acl if n % 7 == 0 else OPEN_ACL_UNSAFE, 0))
    return ops[:nodes] if len(ops) > nodes else ops


def multi_write(c: KazooClient, ops: list, batch: int = 1000, window: int = 4) -> float:
    """Pipelined multi batches; returns ops/s."""
    started = time.monotonic()
    inflight: deque = deque()
    for i in range(0, len(ops), batch):
        inflight.append(wire.call(c, Transaction(ops[i : i + batch]), lambda: 0))
        while len(inflight) > window:
            res = inflight.popleft().get(60)
            if any(isinstance(r, Exception) for r in res):
                raise RuntimeError(f"multi failed: {res[:3]}")
    while inflight:
        res = inflight.popleft().get(60)
        if any(isinstance(r, Exception) for r in res):
            raise RuntimeError(f"multi failed: {res[:3]}")
    return len(ops) / (time.monotonic() - started)


def subtree(c: KazooClient, root: str) -> list[str]:
    """``root`` and every node below it, parents before their children."""
    order = []
    stack = [root]
    while stack:
        p = stack.pop()
        order.append(p)
        stack.extend(f"{p}/{k}" for k in c.get_children(p))
    return order


def delete_tree(c: KazooClient, root: str) -> None:
    if c.exists(root) is None:
        return
    multi_write(c, [Delete(p, -1) for p in reversed(subtree(c, root))])


# ---------------------------------------------------------------------------------------------
# Engine phases (each in its own process, for its peak RSS)
# ---------------------------------------------------------------------------------------------


def engine_phase(spec: dict) -> dict:
    if spec.get("log"):
        logging.basicConfig(filename=spec["log"], level=logging.DEBUG, format="%(asctime)s %(levelname)s %(message)s")
        logging.getLogger("kazoo").setLevel(logging.INFO)
    cfg = build_config(spec["options"])
    engine = SyncEngine(cfg, spec["source"], spec["target"])
    engine.open()
    try:
        started = time.monotonic()
        if spec["phase"] == "copy" and spec.get("profile"):
            # where the engine's own CPU goes in a copy: cProfile's functions by own time
            import cProfile  # noqa: PLC0415  # only when asked
            import pstats  # noqa: PLC0415

            profiler = cProfile.Profile(time.process_time)
            engine.preflight()
            res = profiler.runcall(engine.copy)
            with open(spec["profile"], "w", encoding="utf-8") as out:
                pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        elif spec["phase"] == "copy":
            engine.preflight()
            res = engine.copy()
        elif spec["phase"] == "verify":
            res = engine.verify()
        else:
            # The copy first: the watch-floor phases changed the source after the copy phase, and
            # a mirror started on a stale target repairs (and counts) what it finds missing.
            mirror = Mirror(engine).run if Mirror is not None else engine.mirror
            res = mirror(stop_marker=spec["stop_marker"], copy_first=True, drain_timeout=300)
        res["wall"] = time.monotonic() - started
    finally:
        engine.close()
    res["rss_mb"] = rss_peak_mb()
    times = os.times()
    res["cpu_s"] = times.user + times.system
    return res


def run_phase(spec: dict, env: dict | None = None) -> subprocess.Popen:
    """One engine phase in its own process (``env``: e.g. another PYTHONPATH, another engine)."""
    return subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--engine-phase", json.dumps(spec)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def finish_phase(proc: subprocess.Popen, timeout: float) -> dict:
    out, _err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"engine phase failed (rc={proc.returncode})")
    return json.loads(out.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# Load and probe
# ---------------------------------------------------------------------------------------------


class Writer(threading.Thread):
    """Sustains ``rate`` changes/s under ``root``: sets (80%), creates and deletes (20%)."""

    def __init__(
        self,
        c: KazooClient,
        rate: float,
        seconds: float,
        leaves: list[str],
        tag: str,
        *,
        root: str = ROOT,
        batch: int = 1,
    ) -> None:
        super().__init__(daemon=True)
        self.c, self.rate, self.seconds, self.leaves = c, rate, seconds, leaves
        self.tag = tag  # churn names of one run: never a node an earlier run left behind
        self.root = root
        self.batch = batch  # changes per request: > 1 sends them as multis (as a mirror writes)
        self.done = 0

    def run(self) -> None:
        rnd = random.Random(11)
        start = time.monotonic()
        end = start + self.seconds
        i = 0
        live: deque = deque()
        while True:
            now = time.monotonic()
            if now >= end:
                break
            due = int((now - start) * self.rate)
            while i + self.batch <= due:
                ops = []
                for _k in range(self.batch):
                    i += 1
                    r = rnd.random()
                    if r < 0.8:
                        ops.append(SetData(rnd.choice(self.leaves), b"v%08d" % i + bytes(91), -1))
                    elif r < 0.9 or not live:
                        p = f"{self.root}/churn/{self.tag}-c{i}"
                        live.append(p)
                        ops.append(Create(p, b"c" * 100, OPEN_ACL_UNSAFE, 0))
                    else:
                        ops.append(Delete(live.popleft(), -1))
                if self.batch > 1:
                    wire.call(self.c, Transaction(ops), lambda: 0)
                else:
                    wire.call(self.c, ops[0], lambda: 0)
            self.done = i
            time.sleep(0.002)  # pacing tick of the load generator


def load_phase(spec: dict) -> dict:
    """The load generator in its own process: its GIL and kazoo queue are not the probe's."""
    c = client(spec["hosts"])
    root = spec.get("root", ROOT)
    try:
        leaves = [op.path for op in tree_ops(root, spec["nodes"]) if "/n" in op.path][:20000]
        w = Writer(c, spec["rate"], spec["seconds"], leaves, spec["tag"], root=root, batch=spec.get("batch", 1))
        print("started", flush=True)
        w.run()
        c.sync(root)  # every change sent has been answered
    finally:
        c.stop()
        c.close()
    return {"done": w.done}


def start_load(
    hosts: str, nodes: int, rate: int, seconds: float, tag: str, *, root: str = ROOT, batch: int = 1
) -> subprocess.Popen:
    spec = {"hosts": hosts, "nodes": nodes, "rate": rate, "seconds": seconds, "tag": tag, "root": root, "batch": batch}
    return start_helper("--load-phase", spec)


def start_helper(flag: str, spec: dict) -> subprocess.Popen:
    """This script in another process (``flag``: which part), once it printed "started"."""
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), flag, json.dumps(spec)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    if proc.stdout is None or proc.stdout.readline().strip() != "started":
        raise RuntimeError(f"{flag}: the helper process did not start")
    return proc


def relay_phase(spec: dict) -> dict:
    """The shortest way a change can cross from one ensemble to the other: one node, watched
    on the source, read on the same session, written to the target (three round trips, no
    batching, one thread on the engine's own sessions). Runs until its stdin closes."""
    path = spec["path"]
    auth = [("digest", f"{SUPER[0]}:{SUPER[1]}")]
    relayed = [0]
    tgt = wire_sessions.LoopSession(_zk.split_hosts(spec["target"]), auth=auth, timeout=10.0)

    def written(err: int, _body: bytes) -> None:
        if not err:
            relayed[0] += 1

    def got(err: int, body: bytes) -> None:
        if not err:
            data, _off = wire.read_buffer(body, 0)
            tgt.submit(SetData.type, bytes(SetData(path, data, -1).serialize()), written)

    def on_event(etype: int, changed: str) -> None:
        if etype == wire.EVENT_CHANGED and changed == path:
            src.submit(wire.OP_GET_DATA, wire.get_data_payload(changed), got)

    src = wire_sessions.LoopSession(_zk.split_hosts(spec["source"]), on_event, auth=auth, timeout=10.0)
    src.connect()
    tgt.connect()
    (err, _body, _seen) = src.wait(src.send([(wire.OP_ADD_WATCH, wire.AddWatch(path).serialize())]), 10.0)[0]
    if err:
        raise RuntimeError(f"addWatch failed with ZooKeeper error {err}")
    stop = threading.Event()

    def until_stdin_closes() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=until_stdin_closes, daemon=True).start()
    print("started", flush=True)
    while not stop.is_set():
        wire_sessions.pump_any([src, tgt], 0.05)
        if src.lost.is_set() or tgt.lost.is_set():
            raise RuntimeError("the relay lost a session")
    src.close()
    tgt.close()
    return {"relayed": relayed[0]}


def add_relay_load_tree(t: KazooClient) -> None:
    """The target's tree the relay floor's second load generator changes (``/relayload``)."""
    multi_write(
        t,
        [Create("/relayload", b"", OPEN_ACL_UNSAFE, 0)]
        + [op._replace(path="/relayload" + op.path) for op in tree_ops(ROOT, RELAY_TARGET_NODES)],
    )
    t.ensure_path(f"/relayload{ROOT}/churn")


def measure_relay_floor(
    ensembles: tuple[ZkEnsemble, ZkEnsemble],
    probe: Probe,
    *,
    rate: int,
    seconds: float,
    nodes: int,
    batch: int,
    tag: str,
) -> dict:
    """The probe's lag through the relay (:func:`relay_phase`) while the source gets ``rate``
    changes/s and the target (under ``/relayload``, see :func:`add_relay_load_tree`) as many
    in multis of ``batch``: a mirror's load without a mirror's work. The probe must watch
    the target. Adds the cores each part used (``cpu``), what the target's load generator
    achieved and how many changes the relay carried."""
    src_ens, tgt_ens = ensembles
    relay = start_helper(
        "--relay-phase", {"source": src_ens.connect_string, "target": tgt_ens.connect_string, "path": f"{ROOT}/probe"}
    )
    w = start_load(src_ens.connect_string, nodes, rate, seconds, tag)
    wt = start_load(
        tgt_ens.connect_string, RELAY_TARGET_NODES, rate, seconds, tag, root=f"/relayload{ROOT}", batch=batch
    )
    share = CpuShare(
        {
            "source JVMs": [m.pid for m in src_ens.members],
            "target JVMs": [m.pid for m in tgt_ens.members],
            "relay": [relay.pid],
            "probe": [os.getpid()],
        }
    )
    res = probe.run(seconds)
    res["cpu"] = share.cores()
    finish_load(w, seconds)
    res["target_achieved"] = finish_load(wt, seconds)
    res["relayed"] = finish_phase(relay, 60)["relayed"]
    return res


def finish_load(proc: subprocess.Popen, seconds: float) -> float:
    """Changes per second the load generator achieved."""
    out, _err = proc.communicate(timeout=seconds + 120)
    if proc.returncode != 0:
        raise RuntimeError(f"the load generator failed (rc={proc.returncode})")
    return json.loads(out.strip().splitlines()[-1])["done"] / seconds


def install_event_hook(client: KazooClient, sink: Callable[[int, str], None]) -> None:
    """Call ``sink(event_type, path)`` for every watch event the client's connection reads.

    kazoo 2.11 drops events of persistent watches (it only knows one-shot watchers); this
    runs in kazoo's connection thread before kazoo's own reader, which is skipped for paths
    without a one-shot watcher.
    """
    conn = client._connection
    original = conn._read_watch_event

    def hooked(buf: bytes, offset: int) -> object:
        etype, _state = wire.INT_INT.unpack_from(buf, offset)
        path, _end = wire.read_string(buf, offset + wire.INT_INT.size)
        try:
            sink(etype, path)
        finally:
            # kazoo replaces these dicts when it resets its watchers: look them up each time
            if path in client._data_watchers or path in client._child_watchers:
                original(buf, offset)
        return None

    conn._read_watch_event = hooked


class Probe:
    """Writes a timestamp on the source every ``interval``; watches ``observe`` for it."""

    def __init__(self, writer: KazooClient, observer: KazooClient, path: str) -> None:
        self.w, self.o, self.path = writer, observer, path
        self.samples: list[float] = []
        self.stop = threading.Event()
        self.seen = 0
        install_event_hook(observer, self._event)
        wire.call(observer, wire.AddWatch(path), lambda: 0).get(10)

    def _event(self, etype: int, path: str) -> None:
        if path != self.path or etype != wire.EVENT_CHANGED:
            return
        self.seen += 1
        wire.call(self.o, GetData(path, None), lambda: 0, self._got)

    def _got(self, value: object) -> None:
        answer: tuple = value  # type: ignore[assignment]
        try:
            ts = float(answer[0].decode())
        except (ValueError, AttributeError):
            return
        self.samples.append(time.time() - ts)

    def run(self, seconds: float, interval: float = 0.02) -> dict:
        self.samples = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.w.set(self.path, repr(time.time()).encode())
            time.sleep(interval)  # probe period
        time.sleep(1.0)  # let the last answers arrive before summarising
        return summarize(self.samples)


def summarize(samples: list[float]) -> dict:
    s = sorted(samples)
    if not s:
        return {"n": 0, "p50": None, "p99": None, "max": None}

    def pct(q: float) -> float:
        return s[min(len(s) - 1, int(q * len(s)))] * 1000

    return {"n": len(s), "p50": pct(0.5), "p99": pct(0.99), "max": s[-1] * 1000}


def zkshell_mirror(binary: str, src: str, tgt: str, src_path: str, tgt_path: str) -> tuple[float, int]:
    started = time.monotonic()
    proc = subprocess.run(
        [binary, "--run-once", f"mirror zk://{src}{src_path} zk://{tgt}{tgt_path} false false true"],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    return time.monotonic() - started, proc.returncode


# ---------------------------------------------------------------------------------------------


def fmt(v: float | None, unit: str = "") -> str:
    return "n/a" if v is None else f"{v:,.1f}{unit}"


class BusyLoad:
    """``n`` processes that spin on the CPU at normal priority: the contention of a busy
    machine, added by the benchmark itself (issue 20: lag with both cores busy)."""

    def __init__(self, n: int) -> None:
        self.procs = [
            subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL) for _i in range(n)
        ]

    def stop(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()


def main() -> int:  # noqa: PLR0912, PLR0915  # one linear script
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--lag-seconds", type=float, default=60.0)
    ap.add_argument("--floor-seconds", type=float, default=30.0)
    ap.add_argument("--zkshell", default="/tmp/zkshell-venv/bin/zk-shell")
    ap.add_argument("--zkshell-nodes", type=int, default=5000)
    add_jvm_options(ap)
    ap.add_argument("--rates", default="500,1000", help="change rates (per second) of the lag and floor phases")
    ap.add_argument(
        "--busy",
        type=int,
        default=0,
        help="processes spinning on the CPU during the floor and lag phases (2 = both cores of this machine busy)",
    )
    ap.add_argument(
        "--copy-runs",
        type=int,
        default=1,
        help="copies of the tree, each after the raw write bound measured again (the target emptied between)",
    )
    ap.add_argument(
        "--relay-batch",
        type=int,
        default=RELAY_TARGET_BATCH,
        help="changes per multi of the relay floor's load on the target (default: the engine's batches)",
    )
    ap.add_argument("--engine-log", help="append the engine's DEBUG log (failed batches, repairs) to this file")
    ap.add_argument(
        "--profile-copy",
        help="profile the last copy's engine CPU (cProfile, process time; slows it) into this file",
    )
    ap.add_argument("--engine-phase", help=argparse.SUPPRESS)
    ap.add_argument("--load-phase", help=argparse.SUPPRESS)
    ap.add_argument("--relay-phase", help=argparse.SUPPRESS)
    args = ap.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    if args.engine_phase:
        print(json.dumps(engine_phase(json.loads(args.engine_phase)), default=str))
        return 0
    if args.load_phase:
        print(json.dumps(load_phase(json.loads(args.load_phase))))
        return 0
    if args.relay_phase:
        print(json.dumps(relay_phase(json.loads(args.relay_phase))))
        return 0

    use_heap(args.heap, args.jvm)
    src_ens = ensemble("benchsrc")
    tgt_ens = ensemble("benchtgt")
    src_ens.start()
    tgt_ens.start()
    rows: list[tuple[str, str]] = []
    try:
        s, t = client(src_ens.connect_string), client(tgt_ens.connect_string)
        ops = tree_ops(ROOT, args.nodes)
        print(f"generating {len(ops)} znodes on the source ...", file=sys.stderr)
        gen_rate = multi_write(s, ops)
        s.ensure_path(f"{ROOT}/churn")
        s.ensure_path(f"{ROOT}/probe")
        nodes_total = len(ops) + 2
        base = {
            "source": params(src_ens.connect_string),
            "target": params(tgt_ens.connect_string),
            "options": {"paths": [ROOT], "heartbeat_interval": 0.5},
            "log": args.engine_log,
        }
        src_pids = [m.pid for m in src_ens.members]
        tgt_pids = [m.pid for m in tgt_ens.members]
        copies: list[dict] = []
        for run in range(args.copy_runs):
            if run:
                delete_tree(t, ROOT)  # the next copy starts from an empty target again
            t.ensure_path("/rawbound")
            raw_rate = multi_write(t, [op._replace(path="/rawbound" + op.path) for op in ops])
            delete_tree(t, "/rawbound" + ROOT)
            t.delete("/rawbound")
            print(f"engine copy {run + 1}/{args.copy_runs} ...", file=sys.stderr)
            jvm_before = (cpu_seconds(src_pids), cpu_seconds(tgt_pids), machine_cpu())
            profile = args.profile_copy if run == args.copy_runs - 1 else None
            copy = finish_phase(run_phase(dict(base, phase="copy", profile=profile)), 3600)
            busy, total = (a - b for a, b in zip(machine_cpu(), jvm_before[2], strict=True))
            copy["jvm_cpu"] = {
                "source": cpu_seconds(src_pids) - jvm_before[0],
                "target": cpu_seconds(tgt_pids) - jvm_before[1],
                "busy": busy / max(1, total),
            }
            copy["rate"] = copy["nodes"] / copy["wall"]
            copy["raw_rate"] = raw_rate
            copies.append(copy)
        copy_rate = copies[-1]["rate"]
        print("zk-shell mirror ...", file=sys.stderr)
        sub = f"{ROOT}/d1"
        sub_nodes = 0
        zk_rate = None
        zk_rc = None
        if os.path.exists(args.zkshell):
            # not the digest-ACL groups (g...0): zk-shell connects without auth
            groups = [g for g in sorted(s.get_children(sub)) if not g.endswith("0")]
            groups = groups[: max(1, args.zkshell_nodes // 101)]
            s.ensure_path("/zkshell_src")
            for g in groups:
                kids = s.get_children(f"{sub}/{g}")
                batch = [Create(f"/zkshell_src/{g}", b"x" * 100, OPEN_ACL_UNSAFE, 0)]
                batch += [Create(f"/zkshell_src/{g}/{k}", b"x" * 100, OPEN_ACL_UNSAFE, 0) for k in kids]
                multi_write(s, batch)
                sub_nodes += len(batch)
            seconds, zk_rc = zkshell_mirror(
                args.zkshell, src_ens.connect_string, tgt_ens.connect_string, "/zkshell_src", "/zkshell_dst"
            )
            zk_rate = sub_nodes / seconds
            delete_tree(s, "/zkshell_src")
            delete_tree(t, "/zkshell_dst")
        print("engine verify ...", file=sys.stderr)
        ver = finish_phase(run_phase(dict(base, phase="verify")), 3600)
        # watch floor: the probe watching the SOURCE itself while the writer runs, no mirror.
        # The probe writes through its own session, the load comes from another process.
        busy_load = BusyLoad(args.busy)  # from the floors to the end of the lag phases
        probe_w = client(src_ens.connect_string)
        floor = {}
        floor_obs = client(src_ens.connect_string)
        probe_floor = Probe(probe_w, floor_obs, f"{ROOT}/probe")
        for rate in rates:
            print(f"watch floor at {rate}/s ...", file=sys.stderr)
            w = start_load(src_ens.connect_string, args.nodes, rate, args.floor_seconds, f"floor{rate}")
            share = CpuShare({"source JVMs": src_pids, "probe": [os.getpid()]})
            floor[rate] = probe_floor.run(args.floor_seconds)
            floor[rate]["cpu"] = share.cores()
            finish_load(w, args.floor_seconds)
        floor_obs.stop()
        floor_obs.close()
        # relay floor: the shortest path a mirror can take, under the mirror's load on both sides
        obs = client(tgt_ens.connect_string)
        probe = Probe(probe_w, obs, f"{ROOT}/probe")
        relay_floor = {}
        add_relay_load_tree(t)
        for rate in rates:
            print(f"relay floor at {rate}/s ...", file=sys.stderr)
            relay_floor[rate] = measure_relay_floor(
                (src_ens, tgt_ens),
                probe,
                rate=rate,
                seconds=args.floor_seconds,
                nodes=args.nodes,
                batch=args.relay_batch,
                tag=f"relay{rate}",
            )
        delete_tree(t, "/relayload")
        # mirror: the engine in its own process; the probe watches the TARGET
        print("engine mirror ...", file=sys.stderr)
        marker = "/zk_sync_bench_stop"
        if s.exists(marker):
            s.delete(marker)
        mproc = run_phase(dict(base, phase="mirror", stop_marker=marker))

        def heartbeats() -> bool:
            hb = t.exists(f"{ROOT}/zk_sync_heartbeat")
            return hb is not None and hb.version > 2

        wait_for(heartbeats, 600, "the mirror to start (its heartbeat on the target)", interval=0.2)
        lag = {}
        for rate in rates:
            print(f"mirror lag at {rate}/s ...", file=sys.stderr)
            w = start_load(src_ens.connect_string, args.nodes, rate, args.lag_seconds, f"mirror{rate}")
            share = CpuShare(
                {"source JVMs": src_pids, "target JVMs": tgt_pids, "engine": [mproc.pid], "probe": [os.getpid()]}
            )
            lag[rate] = probe.run(args.lag_seconds)
            lag[rate]["cpu"] = share.cores()
            lag[rate]["achieved"] = finish_load(w, args.lag_seconds)
        busy_load.stop()
        s.create(marker, b"")
        mirror = finish_phase(mproc, 900)
        s.delete(marker)
        load = os.getloadavg()
        rows += [
            (
                "tree",
                f"{nodes_total:,} znodes of 100 bytes (4 dirs x {len(ops) // 404} groups x 100), generated at "
                f"{gen_rate:,.0f} nodes/s",
            ),
        ]
        for run, c in enumerate(copies, 1):
            rows += [
                (
                    f"copy {run}: raw write bound (pipelined 1000-op multi creates, no reads)",
                    f"{c['raw_rate']:,.0f} nodes/s",
                ),
                (
                    f"copy {run}: engine copy",
                    f"{c['rate']:,.0f} nodes/s ({c['wall']:.1f} s, {c['rate'] / c['raw_rate']:.0%} of the raw "
                    f"bound), peak RSS {c['rss_mb']:.0f} MB",
                ),
                (
                    f"copy {run}: CPU during the engine copy",
                    f"engine {c['cpu_s']:.1f} s, source JVMs {c['jvm_cpu']['source']:.1f} s, target JVMs "
                    f"{c['jvm_cpu']['target']:.1f} s; the machine's {os.cpu_count()} cores "
                    f"{c['jvm_cpu']['busy']:.0%} busy (the copy phase's whole process, connecting included)",
                ),
            ]
        if len(copies) > 1:
            rates_seen = sorted(c["rate"] for c in copies)
            ratios = sorted(c["rate"] / c["raw_rate"] for c in copies)
            rows.append(
                (
                    f"engine copy over {len(copies)} runs",
                    f"{rates_seen[0]:,.0f}-{rates_seen[-1]:,.0f} nodes/s (median {rates_seen[len(copies) // 2]:,.0f}), "
                    f"{ratios[0]:.0%}-{ratios[-1]:.0%} of the raw bound of the same run",
                )
            )
        rows += [
            (
                "zk-shell 1.3.4 mirror",
                "not run (no zk-shell)"
                if zk_rate is None
                else f"{zk_rate:,.0f} nodes/s on {sub_nodes:,} nodes (exit {zk_rc}); engine/zk-shell = "
                f"{copy_rate / zk_rate:,.0f}x",
            ),
            (
                "engine verify",
                f"{ver['wall']:.1f} s for {ver['nodes_compared']:,} nodes, consistent="
                f"{ver['consistent']}, peak RSS {ver['rss_mb']:.0f} MB",
            ),
        ]
        for rate in rates:
            fl, m, rf = floor[rate], lag[rate], relay_floor[rate]
            rows.append(
                (
                    f"lag at {rate} changes/s (achieved {m['achieved']:,.0f}/s, {args.lag_seconds:.0f} s)",
                    f"p50 {fmt(m['p50'], ' ms')}, p99 {fmt(m['p99'], ' ms')}, max {fmt(m['max'], ' ms')} "
                    f"({m['n']} probes); watch floor p50 {fmt(fl['p50'], ' ms')}, p99 {fmt(fl['p99'], ' ms')}, "
                    f"max {fmt(fl['max'], ' ms')}",
                )
            )
            rows.append(
                (
                    f"relay floor at {rate} changes/s on the source and {rf['target_achieved']:,.0f}/s on the "
                    f"target in multis of {args.relay_batch} ({args.floor_seconds:.0f} s)",
                    f"p50 {fmt(rf['p50'], ' ms')}, p99 {fmt(rf['p99'], ' ms')}, max {fmt(rf['max'], ' ms')} "
                    f"({rf['n']} probes, {rf['relayed']} relayed)",
                )
            )
            rows.append(
                (
                    f"lag p99 / watch floor p99 at {rate} changes/s (goal: at most 2)",
                    f"{m['p99'] / fl['p99']:.2f}" if m["p99"] and fl["p99"] else "n/a",
                )
            )
            rows += [
                (f"CPU during the watch floor at {rate} changes/s", fmt_cores(fl["cpu"])),
                (f"CPU during the relay floor at {rate} changes/s", fmt_cores(rf["cpu"])),
                (f"CPU during the lag at {rate} changes/s", fmt_cores(m["cpu"])),
            ]
        v = mirror["verify"]
        rows.append(
            (
                "mirror end",
                f"differences {v['differences_count']}, events applied {mirror['events_applied']:,}, repairs "
                f"{mirror['repairs']}, errors {mirror['errors']}, engine heartbeat lag p50/p99/max "
                f"{mirror['lag']['p50_ms']}/{mirror['lag']['p99_ms']}/{mirror['lag']['max_ms']} ms, peak RSS "
                f"{mirror['rss_mb']:.0f} MB",
            )
        )
        rows.append(("machine load (1/5/15 min) at the end", " / ".join(f"{x:.2f}" for x in load)))
        rows.append(("processes spinning on the CPU during the floors and lags (--busy)", str(args.busy)))
        obs.stop()
        obs.close()
        probe_w.stop()
        probe_w.close()
        s.stop()
        t.stop()
    finally:
        src_ens.stop()
        tgt_ens.stop()
    print("| measurement | result |")
    print("|---|---|")
    for k, v2 in rows:
        print(f"| {k} | {v2} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
