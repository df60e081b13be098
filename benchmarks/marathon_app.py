#!/usr/bin/env python
"""marathon_app on the Marathon protocol double: cost of an unchanged app, and wait latency.

Starts a one-member loopback ZooKeeper ensemble (the test fixture's JVM) and one Marathon
double (doubles/marathon) with no Mesos master behind it, so a deployment that needs a task
stays running until it is cancelled.

1. Unchanged app: an app of 0 instances is created once; then the module runs again with the
   same definition, N times in process (``main()`` with its arguments, as Ansible's module
   runner calls it, minus the interpreter start-up) and M times as users run it
   (``ansible localhost -m orchestrator.platform.marathon_app``), beside the floor of the same
   command with ``ansible.builtin.ping`` (Ansible's own start-up, no HTTP). Prints the API
   calls of each run (the module's ``api_calls``), whether any run changed something or made
   a deployment, and p50/max wall time of each. The ad hoc runs of the module and of ping take
   turns (and, with ``--baseline REV``, runs of the module as of git revision REV: its
   plugins/, meta/ and galaxy.yml exported to a collection path of their own), so a change of
   the machine's load hits each alike; the module's p50 is also printed as a ratio to ping's,
   and so is the CPU time of each command (all its processes: ``RUSAGE_CHILDREN``), which a
   busy machine stretches less than the wall time.
2. Wait latency: the module runs in process with ``wait: true`` on a change whose deployment
   cannot finish here; after 1 s plus a fraction of the poll interval (spread evenly over the
   trials) the deployment is taken out of ``/v2/deployments``
   (``DELETE /v2/deployments/{id}?force=true``: 202 once Marathon no longer lists it). The
   time from that 202 (Marathon reporting the deployment gone) to the module returning is the
   latency the module adds to a finished deployment. With a real Mesos the deployment would
   leave the list by finishing; the module cannot tell the two apart (it polls the list).
   Run for each ``--poll-intervals`` value.

3. With ``--mesos N``: deployments that finish for real. A Mesos double master and one Docker
   agent (as tests/doubles/test_marathon_tasks.py starts them) run the tasks of a second
   Marathon double as containers of the image of tools/build-task-image (built first), with a
   MESOS_HTTP health check. An app of 2 instances is created, then updated N times (a new
   environment value: a rolling update, minimumHealthCapacity 0.5), each time by the module in
   process with ``wait: true``. The time from the ``deployment_success`` event's timestamp (the
   moment Marathon reports the deployment finished, read from ``/v2/events``) to the module
   returning is the latency asked for, at the default poll interval of 0.5 s.

Usage (from the repository, after ``. tools/env``)::

    python benchmarks/marathon_app.py [--runs 20] [--adhoc-runs 5] [--trials 10] [--poll-intervals 0.5,0.2]
                                      [--mesos 10] [--baseline REV]

Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from ansible.module_utils import basic  # noqa: E402
from ansible_collections.orchestrator.platform.plugins.modules import marathon_app  # noqa: E402

from tests.doubles.marathon_double_client import Events  # noqa: E402
from tests.fixtures.zk_ensemble import ZkEnsemble  # noqa: E402  # the test fixture: a real JVM on a free port
from tests.support.mesos_cluster import Cluster  # noqa: E402
from tests.support.ports import free_port  # noqa: E402

REPO = Path(HERE).parent
DOUBLE = REPO / "doubles" / "marathon" / "marathon_double"
IDLE = {"id": "/bench/idle", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32, "instances": 0}
STUCK = {"id": "/bench/stuck", "cmd": "sleep 1000", "cpus": 0.1, "mem": 32, "instances": 0}


def http(port: int, method: str, path: str, body: object = None, host: str = "127.0.0.1") -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://{host}:{port}{path}", data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw.strip() else None
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def in_process(args: dict) -> tuple[float, dict]:
    """Run marathon_app's main() once with ``args``; (seconds, result)."""
    payload = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
    out = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        basic._ANSIBLE_ARGS = payload
        basic._ANSIBLE_PROFILE = "legacy"
        marathon_app.main()
    took = time.perf_counter() - start
    return took, json.loads(out.getvalue())


def adhoc(
    args: dict, module: str = "orchestrator.platform.marathon_app", collections: Path | None = None
) -> tuple[float, float, dict]:
    """One ``ansible localhost -m module``: (wall s, CPU s of every process of it, result).

    ``collections``: another collection path (a baseline). The CPU time is ``RUSAGE_CHILDREN``'s:
    the controller, its worker and the module's interpreter, each waited for by its parent.
    """
    cmd = [
        "ansible",
        "localhost",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
    ]
    cmd += ["-m", module]
    if args:  # `-a '{}'` is a raw parameter: ansible-core 2.19 fails ping's task before running it
        cmd += ["-a", json.dumps(args)]
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_NOCOLOR="1")
    if collections is not None:
        env.update(ANSIBLE_COLLECTIONS_PATH=str(collections), PYTHONPATH=str(collections))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=120)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return took, cpu, json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]


def export_collection(rev: str, dest: Path) -> Path:
    """The collection's plugins, meta and galaxy.yml as of git revision ``rev``, as a collection path."""
    root = dest / "ansible_collections" / "orchestrator" / "platform"
    root.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "plugins", "meta", "galaxy.yml"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    return dest


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def unchanged(port: int, runs: int, adhoc_runs: int, baseline: tuple[str, Path] | None = None) -> None:
    args = {"urls": [f"http://127.0.0.1:{port}"], "app": IDLE, "retries": 0}
    took, first = in_process(args)
    print(f"create: changed={first.get('changed')} api_calls={first.get('api_calls')} {took:.3f}s")
    times: list[float] = []
    calls: list[int] = []
    changed: list[bool] = []
    for _run in range(runs):
        took, result = in_process(args)
        times.append(took)
        calls.append(int(result.get("api_calls") or 0))
        changed.append(bool(result.get("changed")) or bool(result.get("deployment_id")) or bool(result.get("failed")))
    print(
        f"unchanged, in process, {runs} runs: api_calls {sorted(set(calls))}, any change/deployment/failure: "
        f"{any(changed)}, p50 {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms"
    )
    if not adhoc_runs:
        return
    # The module, the ping floor (and the baseline revision's module) take turns, run after run:
    # on a shared machine a load change then hits all of them alike, and the ratio holds.
    kinds = ["module", "ping"] + (["baseline"] if baseline else [])
    walls: dict[str, list[float]] = {k: [] for k in kinds}
    cpus: dict[str, list[float]] = {k: [] for k in kinds}
    calls, changed = [], []
    for run in range(adhoc_runs):
        for kind in kinds[run % len(kinds) :] + kinds[: run % len(kinds)]:
            if kind == "ping":
                took, cpu, result = adhoc({}, "ansible.builtin.ping")
                if result.get("ping") != "pong":
                    raise RuntimeError(f"the ping floor did not run the ping module: {result}")
            else:
                took, cpu, result = adhoc(args, collections=baseline[1] if kind == "baseline" and baseline else None)
                calls.append(int(result.get("api_calls") or 0))
                changed.append(bool(result.get("changed")) or bool(result.get("failed")))
            walls[kind].append(took)
            cpus[kind].append(cpu)
    floor, cpu_floor = statistics.median(walls["ping"]), statistics.median(cpus["ping"])

    def figures(kind: str) -> str:
        wall, cpu = statistics.median(walls[kind]), statistics.median(cpus[kind])
        return (
            f"p50 {wall:.2f} s, max {max(walls[kind]):.2f} s, {wall / floor:.2f} x the ping floor; "
            f"CPU p50 {cpu:.2f} s, {cpu / cpu_floor:.2f} x ping's, {cpu - cpu_floor:+.2f} s"
        )

    print(
        f"unchanged, ansible localhost -m, {adhoc_runs} runs: api_calls {sorted(set(calls))}, any change/failure: "
        f"{any(changed)}, {figures('module')}"
    )
    if baseline:
        print(f"baseline {baseline[0]}, ansible localhost -m, {adhoc_runs} runs (interleaved): {figures('baseline')}")
    print(
        f"floor, ansible localhost -m ansible.builtin.ping, {adhoc_runs} runs (interleaved): "
        f"p50 {floor:.2f} s, max {max(walls['ping']):.2f} s; CPU p50 {cpu_floor:.2f} s"
    )
    versions = http(port, "GET", "/v2/apps/bench/idle/versions")[1]
    print(f"versions of {IDLE['id']} after all runs: {len(versions['versions'])} (1 = nothing was ever redeployed)")


def run_and_stamp(args: dict, done: dict) -> None:
    """Run the module in process; note when it returned and what."""
    result = in_process(args)[1]
    done["returned"] = time.perf_counter()
    done["result"] = result


def wait_latency(port: int, trials: int, interval: float) -> None:
    base = {"urls": [f"http://127.0.0.1:{port}"], "retries": 0, "poll_interval": interval, "wait_timeout": 60}
    in_process({**base, "app": STUCK})
    latencies = []
    for trial in range(trials):
        done: dict = {}
        # instances 1 or 2: a ScaleApplication step that no Mesos will ever run here.
        change = {**base, "app": {**STUCK, "instances": 1 + trial % 2, "cmd": f"sleep {1000 + trial}"}}
        worker = threading.Thread(target=run_and_stamp, args=(change, done))
        worker.start()
        # The moment the deployment goes is spread evenly over one poll interval: a fixed delay
        # would fall at the same phase of the module's polling every time (and measure that phase).
        time.sleep(1.0 + interval * trial / trials)
        deployments = http(port, "GET", "/v2/deployments")[1]
        dep = [d["id"] for d in deployments if "/bench/stuck" in d.get("affectedApps", [])]
        status, _body = http(port, "DELETE", f"/v2/deployments/{dep[0]}?force=true")
        gone = time.perf_counter()
        worker.join(timeout=30)
        if status != 202 or done.get("result", {}).get("failed"):
            print(f"trial {trial}: DELETE answered {status}, module: {done.get('result')}")
            continue
        latencies.append(done["returned"] - gone)
    if latencies:
        print(
            f"wait latency, poll_interval {interval}s, {len(latencies)} trials: deployment gone -> module returned "
            f"p50 {statistics.median(latencies) * 1000:.0f} ms, p90 {pct(latencies, 0.9) * 1000:.0f} ms, "
            f"max {max(latencies) * 1000:.0f} ms"
        )


def start_marathon(zk_url: str, master: str, log: Any) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARATHON_")}
    flags = [f"--master={master}", f"--zk={zk_url}", f"--http_port={port}", "--hostname=127.0.0.1"]
    proc = subprocess.Popen([sys.executable, str(DOUBLE), *flags], stdout=log, stderr=log, env=env)
    deadline = time.monotonic() + 30
    while True:
        try:
            if http(port, "GET", "/v2/leader")[0] == 200:
                return proc, port
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(Path(log.name).read_text(errors="replace")[-3000:])
        time.sleep(0.2)


def real_deployments(zk: ZkEnsemble, updates: int, work: Path) -> None:
    subprocess.run([str(REPO / "tools" / "build-task-image")], capture_output=True, check=True, timeout=600)
    label = f"orchestrator-platform.marathon-bench={time.time_ns()}"
    cluster = Cluster(zk.connect_string, work, masters=1, master_flags=("--registry=in_memory",))
    marathon = None
    try:
        cluster.start_masters()
        cluster.wait_agent(cluster.add_agent("cpus:2;mem:1024;disk:2048;ports:[31000-31999]"))
        mesos_zk = cluster.zk_url
        with tempfile.NamedTemporaryFile(suffix=".log") as log:
            marathon, port = start_marathon(f"zk://{zk.connect_string}/bench-marathon-mesos", mesos_zk, log)
            while not http(port, "GET", "/v2/info")[1].get("frameworkId"):
                time.sleep(0.2)
            events = Events(port)
            check = {"protocol": "MESOS_HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 30,
                     "intervalSeconds": 1, "timeoutSeconds": 1, "delaySeconds": 0,
                     "maxConsecutiveFailures": 3}  # fmt: skip
            docker_info = {
                "image": "orchestrator-platform/task-busybox:1",
                "parameters": [{"key": "label", "value": label}],
            }
            app = {
                "id": "/bench/roll", "instances": 2, "cpus": 0.1, "mem": 32,
                "container": {"type": "DOCKER", "docker": docker_info},
                "portDefinitions": [{"port": 0, "name": "http"}], "healthChecks": [check],
                "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0}, "env": {"GEN": "0"},
            }  # fmt: skip
            base = {"urls": [f"http://127.0.0.1:{port}"], "retries": 0, "wait_timeout": 240}
            took, result = in_process({**base, "app": app})
            print(f"real: created {app['id']} (2 healthy tasks) in {took:.1f}s, failed={result.get('failed')}")
            lags, durations = [], []
            for gen in range(1, updates + 1):
                took, result = in_process({**base, "app": {**app, "env": {"GEN": str(gen)}}})
                returned = time.time()
                if result.get("failed"):
                    print(f"update {gen} failed: {result.get('msg')}")
                    continue
                success = events.wait("deployment_success", 30, id=result["deployment_id"])
                reported = datetime.datetime.fromisoformat(success["timestamp"].replace("Z", "+00:00")).timestamp()
                lags.append(returned - reported)
                durations.append(took)
            events.close()
            if lags:
                print(
                    f"real rolling updates, poll_interval 0.5s (default), {len(lags)} runs: "
                    f"deployment_success -> module returned p50 {statistics.median(lags) * 1000:.0f} ms, "
                    f"p90 {pct(lags, 0.9) * 1000:.0f} ms, max {max(lags) * 1000:.0f} ms; "
                    f"module run (PUT + wait) p50 {statistics.median(durations):.1f}s"
                )
    finally:
        if marathon is not None:
            marathon.kill()
        cluster.stop()
        ids = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label={label}"], capture_output=True, text=True, check=False
        ).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--adhoc-runs", type=int, default=5)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--poll-intervals", default="0.5,0.2")
    parser.add_argument("--mesos", type=int, default=0, help="rolling updates on the Mesos double (0: skip)")
    parser.add_argument("--baseline", metavar="REV", help="also time the ad hoc runs with this git revision's plugins")
    args = parser.parse_args()
    print(f"load: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as where:
        baseline = (args.baseline, export_collection(args.baseline, Path(where))) if args.baseline else None
        return measure(args, baseline)


def measure(args: argparse.Namespace, baseline: tuple[str, Path] | None) -> int:
    with ZkEnsemble(size=1, name="bench-marathon") as zk, tempfile.NamedTemporaryFile(suffix=".log") as log:
        port = free_port()
        zk_url = f"zk://{zk.connect_string}/bench-marathon"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MARATHON_")}
        flags = [f"--master=127.0.0.1:{free_port()}", f"--zk={zk_url}", f"--http_port={port}", "--hostname=127.0.0.1"]
        proc = subprocess.Popen([sys.executable, str(DOUBLE), *flags], stdout=log, stderr=log, env=env)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if http(port, "GET", "/v2/leader")[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    print(Path(log.name).read_text(errors="replace")[-3000:])
                    return 1
                time.sleep(0.2)
            unchanged(port, args.runs, args.adhoc_runs, baseline)
            for interval in (float(v) for v in args.poll_intervals.split(",")):
                wait_latency(port, args.trials, interval)
        finally:
            proc.kill()
            proc.wait(timeout=10)
        if args.mesos:
            with tempfile.TemporaryDirectory(prefix="bench-mesos-") as work:
                real_deployments(zk, args.mesos, Path(work))
    print(f"load: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
