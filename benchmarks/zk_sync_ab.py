#!/usr/bin/env python
"""Two versions of the zk_sync engine measured in ONE run, rounds interleaved: copy or mirror lag.

On a shared machine the load changes from minute to minute: numbers of two benchmark runs
cannot be compared, rounds of one run can. The baseline is the collection at a git revision,
extracted to a temporary directory; the other is the engine in this work tree. Each engine
runs in its own process.

* ``--measure lag`` (default): each round measures the watch floor (the probe watching the
  source, no mirror), then a mirror of each engine for ``--seconds`` under the same load
  (``--rate`` changes/s from a separate process). One row per measurement: probe lag
  p50/p99/max and samples, the engine's CPU share while the load ran, how busy the machine's
  cores were, the engine's errors and repairs. With ``--relay`` each round also measures the
  relay floor (the shortest possible mirror of the probe's node, under the same load on both
  sides): is the engine's lag its own or the machine's? The engines' turns swap every round,
  the relay's every second round.
* ``--measure copy``: each round copies the ``--nodes`` tree into the empty target with each
  engine (the target is emptied between copies). One row per copy: nodes/s, seconds, peak
  RSS, and the work tree's speed as a ratio of the baseline's in the same round.

Usage (from the repository, after ``. tools/env``)::

    python benchmarks/zk_sync_ab.py --baseline REV [--measure lag|copy] [--rounds 3] [--seconds 20]
        [--rate 1000] [--nodes 5000] [--relay [--relay-batch 5]]

Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, REPO)  # the work tree's tests.support, whichever collection PYTHONPATH holds

import zk_sync as bench  # noqa: E402  # the benchmark's helpers (ensembles, load, probe)
from kazoo.exceptions import NoNodeError  # noqa: E402

from tests.support.waiting import wait_for  # noqa: E402


def extract(rev: str, into: str) -> str:
    """The collection at ``rev`` as ``into/ansible_collections/orchestrator/platform``; returns ``into``."""
    dest = os.path.join(into, "ansible_collections", "orchestrator", "platform")
    os.makedirs(dest)
    archive = subprocess.run(["git", "-C", REPO, "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    return into


def mirror_round(ctx: dict, name: str, env: dict, tag: str) -> str:
    """One mirror of one engine version under load; returns its table row."""
    started = time.time()
    proc = bench.run_phase(ctx["spec"], env)

    def heartbeat_since_start() -> bool:  # the engine's heartbeat on the target: it mirrors
        return json.loads(ctx["t"].get(f"{bench.ROOT}/zk_sync_heartbeat")[0])["ts"] > started

    not_yet = (NoNodeError, ValueError, KeyError)
    wait_for(heartbeat_since_start, 300, f"the {name} mirror's heartbeat", interval=0.1, retry_on=not_yet)
    seconds = ctx["seconds"]
    load = bench.start_load(ctx["src"], ctx["nodes"], ctx["rate"], seconds, tag)
    share = bench.CpuShare({"engine": [proc.pid]})
    lag = ctx["probe"].run(seconds)
    cpu = share.cores()
    bench.finish_load(load, seconds)
    ctx["s"].create(ctx["marker"], b"")
    try:
        res = bench.finish_phase(proc, 900)
    finally:
        ctx["s"].delete(ctx["marker"])
    return (
        f"| {name} | {bench.fmt(lag['p50'])} | {bench.fmt(lag['p99'])} | {bench.fmt(lag['max'])} | {lag['n']} "
        f"| {cpu['engine']:.0%} | {cpu['busy']:.0%} | {res['errors']} | {res['repairs']} | {os.getloadavg()[0]:.1f} |"
    )


def relay_round(ctx: dict, name: str, tag: str) -> str:
    """The relay floor (see ``bench.measure_relay_floor``) for as long as a mirror; its row."""
    rf = bench.measure_relay_floor(
        ctx["ensembles"],
        ctx["probe"],
        rate=ctx["rate"],
        seconds=ctx["seconds"],
        nodes=ctx["nodes"],
        batch=ctx["batch"],
        tag=tag,
    )
    return (
        f"| {name} | {bench.fmt(rf['p50'])} | {bench.fmt(rf['p99'])} | {bench.fmt(rf['max'])} | {rf['n']} "
        f"| {rf['cpu']['relay']:.0%} | {rf['cpu']['busy']:.0%} | | | {os.getloadavg()[0]:.1f} |"
    )


def copy_once(base: dict, t: object, env: dict) -> dict:
    """One engine copy into the empty target (emptied again afterwards); the phase's result."""
    res = bench.finish_phase(bench.run_phase(dict(base, phase="copy"), env), 900)
    bench.delete_tree(t, bench.ROOT)
    return res


def copy_rounds(base: dict, t: object, baseline: str, baseline_env: dict, rounds: int) -> None:
    print("| copy | nodes/s | seconds | peak RSS MB | work tree / baseline | load |")
    print("|---|---|---|---|---|---|")
    for r in range(rounds):
        engines = [(baseline, baseline_env), ("work tree", dict(os.environ))]
        if r % 2:
            engines.reverse()  # who copies first alternates: no engine always meets a fresher target
        rows = {}
        for name, env in engines:
            res = copy_once(base, t, env)
            rows[name] = (res["nodes"] / res["wall"], res)
        for name in (baseline, "work tree"):
            rate, res = rows[name]
            ratio = f"{rate / rows[baseline][0]:.2f}" if name != baseline else ""
            print(
                f"| round {r + 1}: {name} | {rate:,.0f} | {res['wall']:.1f} | {res['rss_mb']:.0f} "
                f"| {ratio} | {os.getloadavg()[0]:.1f} |",
                flush=True,
            )


def lag_rounds(ctx: dict, floor_probe: bench.Probe, args: argparse.Namespace, baseline_env: dict) -> None:
    """Each round: the watch floor, then both engines' mirrors (and the relay floor)."""
    print(
        f"| {args.rate} changes/s | p50 ms | p99 ms | max ms | probes | engine CPU | machine busy | errors "
        "| repairs | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in range(args.rounds):
        load = bench.start_load(ctx["src"], args.nodes, args.rate, args.seconds / 2, f"f{r}")
        fl = floor_probe.run(args.seconds / 2)
        bench.finish_load(load, args.seconds / 2)
        print(
            f"| round {r + 1}: watch floor | {bench.fmt(fl['p50'])} | {bench.fmt(fl['p99'])} "
            f"| {bench.fmt(fl['max'])} | {fl['n']} | | | | | {os.getloadavg()[0]:.1f} |",
            flush=True,
        )
        # Turns alternate: the first mirror after a floor meets a target that lags behind the
        # floor's changes (8 rounds of one engine against itself: the second mirror had the
        # lower p99 in 6). The engines swap every round, the relay every second one: each
        # order comes once in 4 rounds.
        engines = [(args.baseline, baseline_env, f"b{r}"), ("work tree", dict(os.environ), f"w{r}")]
        if r % 2:
            engines.reverse()
        relay_first = args.relay and (r // 2) % 2 == 0
        if relay_first:
            print(relay_round(ctx, f"round {r + 1}: relay floor", f"r{r}"), flush=True)
        for name, env, tag in engines:
            print(mirror_round(ctx, f"round {r + 1}: {name}", env, tag), flush=True)
        if args.relay and not relay_first:
            print(relay_round(ctx, f"round {r + 1}: relay floor", f"r{r}"), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--baseline", required=True, help="git revision of the engine to compare with")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20.0, help="each mirror's measurement (the floor: half)")
    ap.add_argument("--rate", type=int, default=1000, help="source changes per second")
    ap.add_argument("--nodes", type=int, default=5000, help="tree size")
    ap.add_argument("--measure", choices=("lag", "copy"), default="lag")
    ap.add_argument(
        "--relay",
        action="store_true",
        help="lag: each round also measures the relay floor (the shortest mirror, under the same load)",
    )
    ap.add_argument(
        "--relay-batch", type=int, default=bench.RELAY_TARGET_BATCH, help="changes per multi of the relay's target load"
    )
    bench.add_jvm_options(ap)
    args = ap.parse_args()
    bench.use_heap(args.heap, args.jvm)
    src_ens = bench.ensemble("absrc")
    tgt_ens = bench.ensemble("abtgt")
    with tempfile.TemporaryDirectory(prefix="zk-sync-ab-") as tmp:
        baseline_env = dict(os.environ, PYTHONPATH=extract(args.baseline, tmp))
        src_ens.start()
        tgt_ens.start()
        try:
            s, t = bench.client(src_ens.connect_string), bench.client(tgt_ens.connect_string)
            bench.multi_write(s, bench.tree_ops(bench.ROOT, args.nodes))
            s.ensure_path(f"{bench.ROOT}/churn")
            s.ensure_path(f"{bench.ROOT}/probe")
            base = {
                "source": bench.params(src_ens.connect_string),
                "target": bench.params(tgt_ens.connect_string),
                "options": {"paths": [bench.ROOT], "heartbeat_interval": 0.5},
            }
            if args.measure == "copy":
                copy_rounds(base, t, args.baseline, baseline_env, args.rounds)
                return 0
            bench.finish_phase(bench.run_phase(dict(base, phase="copy")), 600)
            probe_w = bench.client(src_ens.connect_string)
            floor_probe = bench.Probe(probe_w, bench.client(src_ens.connect_string), f"{bench.ROOT}/probe")
            ctx = {
                "spec": dict(base, phase="mirror", stop_marker="/zk_sync_bench_stop"),
                "marker": "/zk_sync_bench_stop",
                "s": s,
                "t": t,
                "src": src_ens.connect_string,
                "nodes": args.nodes,
                "rate": args.rate,
                "seconds": args.seconds,
                "probe": bench.Probe(probe_w, bench.client(tgt_ens.connect_string), f"{bench.ROOT}/probe"),
                "ensembles": (src_ens, tgt_ens),
                "batch": args.relay_batch,
            }
            if args.relay:
                bench.add_relay_load_tree(t)
            lag_rounds(ctx, floor_probe, args, baseline_env)
        finally:
            logging.getLogger("kazoo").setLevel(logging.ERROR)  # not one line per client per server stopped
            src_ens.stop()
            tgt_ens.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
