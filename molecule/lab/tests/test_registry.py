"""The lab's private registry and the task image in it, checked from outside the roles.

The registry is Debian's docker-registry (real) on the inventory group docker_registry; the host
pushed the task image built by tools/build-task-image (molecule/lab/converge.yml). Each agent's
REAL nested Docker engine pulls it by the name tasks use (``lab_task_image``), runs it and
enforces a memory limit. The agents' Mesos is the project's PROTOCOL DOUBLE, not Apache Mesos:
these checks use the engines directly.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import yaml
from lab_inventory import AGENTS, group_hosts, group_vars
from scenario_helpers import REPO_ROOT, changed_counts, container_ip, docker_exec, run_playbook

LAB = group_vars("all")
REGISTRY_HOSTS = group_hosts("docker_registry")
REGISTRY_PORT = int(group_vars("docker_registry").get("docker_registry_port", 5000))
IMAGE = LAB["lab_task_image"]
REPOSITORY, TAG = IMAGE.split("/", 1)[1].rsplit(":", 1)
# Outside the agents' Mesos port range (31000-31999): tasks the double runs never take it.
HTTP_PORT = 28080
MEMORY_LIMIT = 64 * 1024 * 1024
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


def _get(url: str) -> tuple[int, bytes]:
    try:
        with DIRECT.open(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def test_inventory_names_one_registry_and_one_image_everywhere():
    """The names tasks and tests use agree with the registry the inventory installs and the
    port molecule.yml publishes."""
    assert len(REGISTRY_HOSTS) == 1, REGISTRY_HOSTS
    assert LAB["lab_registry"] == f"{REGISTRY_HOSTS[0]}:{REGISTRY_PORT}"
    assert IMAGE == f"{LAB['lab_registry']}/{LAB['lab_task_image_local']}"
    assert LAB["lab_registry"] in group_vars("mesos_agents")["docker_insecure_registries"]
    platforms = yaml.safe_load((REPO_ROOT / "molecule" / "lab" / "molecule.yml").read_text())["platforms"]
    published = next(p for p in platforms if p["name"] == REGISTRY_HOSTS[0])["published_ports"]
    assert published == [f"{LAB['lab_registry_published']}:{REGISTRY_PORT}/tcp"]


def test_registry_answers_v2_and_lists_the_task_image():
    base = f"http://{container_ip(REGISTRY_HOSTS[0])}:{REGISTRY_PORT}"
    status = _get(f"{base}/v2/")[0]
    assert status == 200
    status, body = _get(f"{base}/v2/_catalog")
    assert status == 200
    assert REPOSITORY in json.loads(body)["repositories"]
    status, body = _get(f"{base}/v2/{REPOSITORY}/tags/list")
    assert status == 200
    assert TAG in json.loads(body)["tags"]
    # The same registry through the port published on the host's loopback (where the lab pushes).
    status, body = _get(f"http://{LAB['lab_registry_published']}/v2/_catalog")
    assert status == 200
    assert REPOSITORY in json.loads(body)["repositories"]


def test_registry_unit_is_debian_s_hardened_and_its_config_private():
    name = REGISTRY_HOSTS[0]
    out = docker_exec(
        name,
        "systemctl show docker-registry -p ActiveState -p UnitFileState -p User -p NoNewPrivileges "
        "-p ProtectSystem -p ReadWritePaths",
    )
    props = dict(line.split("=", 1) for line in out.strip().splitlines())
    assert props == {
        "ActiveState": "active",
        "UnitFileState": "enabled",
        "User": "docker-registry",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ReadWritePaths": "/var/lib/docker-registry",
    }
    assert docker_exec(name, "stat -c '%a %U %G' /etc/docker/registry/config.yml").split() == [
        "640",
        "root",
        "docker-registry",
    ]
    config = yaml.safe_load(docker_exec(name, "cat /etc/docker/registry/config.yml"))
    assert config["http"]["addr"] == f":{REGISTRY_PORT}"
    assert "tls" not in config["http"]  # the lab serves plain HTTP (agents: docker_insecure_registries)
    assert "auth" not in config  # Debian's default points htpasswd at a directory


@pytest.mark.parametrize("agent", AGENTS)
def test_agent_pulls_the_task_image_runs_it_and_enforces_a_memory_limit(agent):
    name = f"verify-registry-{int(time.time())}"
    # Pull as production does: from the registry, not from an image already on the agent (it
    # stays when a task still uses it; then the pull checks the registry's manifest only).
    docker_exec(agent, f"docker image rm {IMAGE} >/dev/null 2>&1", check=False)
    start = time.monotonic()
    out = docker_exec(agent, f"docker pull {IMAGE} 2>&1 && echo PULLED", check=False)
    pull_seconds = time.monotonic() - start
    assert out.strip().endswith("PULLED"), out
    try:
        # The image's CMD: busybox httpd on $PORT. Host network: the nested engine has no bridge.
        docker_exec(
            agent,
            f"docker run -d --name {name} --network host -e PORT={HTTP_PORT} --memory {MEMORY_LIMIT} {IMAGE}",
        )
        url = f"http://{container_ip(agent)}:{HTTP_PORT}/health"
        deadline = time.monotonic() + 10
        status, body = 0, b""
        while time.monotonic() < deadline:
            try:
                status, body = _get(url)
                break
            except OSError:
                time.sleep(0.2)
        assert (status, body) == (200, b"ok\n"), (status, body)
        # The limit is in the container's own memory cgroup (cgroup v1, cgroupfs driver)...
        limit = int(docker_exec(agent, f"docker exec {name} cat /sys/fs/cgroup/memory/memory.limit_in_bytes"))
        assert limit == MEMORY_LIMIT
        cgroup = docker_exec(agent, f"docker exec {name} cat /proc/1/cgroup")
        memory_cgroup = next(line.split(":", 2)[2] for line in cgroup.splitlines() if ":memory:" in line)
        # ...and the kernel enforces it: 200 MiB into a 32 MiB container is OOM-killed.
        oom = f"{name}-oom"
        docker_exec(
            agent,
            f"docker run --name {oom} --network none --memory 32m {IMAGE} "
            "sh -c 'head -c 200m /dev/zero | tail -n 1 >/dev/null'",
            check=False,
        )
        state = docker_exec(agent, f"docker inspect -f '{{{{.State.OOMKilled}}}} {{{{.State.ExitCode}}}}' {oom}")
        assert state.split() == ["true", "137"], state
        stop_start = time.monotonic()
        docker_exec(agent, f"docker stop {name}")
        stop_seconds = time.monotonic() - stop_start
        # The image's CMD exits on SIGTERM at once (no 10 s wait for SIGKILL).
        assert stop_seconds < 5, stop_seconds
        print(
            f"\n{agent}: pulled {IMAGE} in {pull_seconds:.2f} s; memory cgroup {memory_cgroup} "
            f"limit {limit}; 200 MiB in 32 MiB: {state.strip()}; docker stop {stop_seconds:.2f} s"
        )
    finally:
        docker_exec(agent, f"docker rm -f {name} {name}-oom >/dev/null 2>&1", check=False)


REGISTRY_PLAYBOOK = REPO_ROOT / "playbooks" / "docker_registry.yml"


def test_registry_playbook_in_check_mode_on_the_converged_lab_changes_nothing():
    run = run_playbook(REGISTRY_PLAYBOOK, "--check", "--diff")
    assert run.returncode == 0, run.stdout[-4000:]
    assert changed_counts(run.stdout) == {REGISTRY_HOSTS[0]: 0}, run.stdout[-3000:]


@pytest.mark.disruptive
def test_registry_serves_https_with_a_certificate_and_back_to_http(tmp_path):
    """TLS on (key 0640, never logged), then the inventory's plain HTTP again. Meanwhile the
    agents still pull: an engine tries HTTPS first for an insecure registry, unverified."""
    name = REGISTRY_HOSTS[0]
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name}",
         "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
        check=True,
        capture_output=True,
    )  # fmt: skip
    tls = json.dumps(
        {
            "docker_registry_tls_cert": (tmp_path / "cert.pem").read_text(),
            "docker_registry_tls_key": (tmp_path / "key.pem").read_text(),
        }
    )
    base = f"{container_ip(name)}:{REGISTRY_PORT}"
    try:
        run = run_playbook(REGISTRY_PLAYBOOK, "-e", tls)
        assert run.returncode == 0, run.stdout[-4000:]
        assert "BEGIN PRIVATE KEY" not in run.stdout  # no_log on the key
        assert docker_exec(name, "stat -c '%a %U %G' /etc/docker/registry/tls/key.pem").split() == [
            "640",
            "root",
            "docker-registry",
        ]
        out = subprocess.run(
            ["curl", "-s", "--noproxy", "*", "--cacert", str(tmp_path / "cert.pem"), "--resolve",
             f"{name}:{REGISTRY_PORT}:{container_ip(name)}", "-o", "/dev/null", "-w", "%{http_code}",
             f"https://{name}:{REGISTRY_PORT}/v2/"],
            capture_output=True, text=True, check=False,
        ).stdout  # fmt: skip
        assert out == "200", out
        # An insecure registry is tried over HTTPS first, without verification: the pull still works.
        assert "PULLED" in docker_exec(AGENTS[0], f"docker pull -q {IMAGE} && echo PULLED", check=False)
        again = run_playbook(REGISTRY_PLAYBOOK, "-e", tls)
        assert changed_counts(again.stdout) == {name: 0}, again.stdout[-3000:]
    finally:
        back = run_playbook(REGISTRY_PLAYBOOK)
    assert back.returncode == 0, back.stdout[-4000:]
    assert docker_exec(name, "test -e /etc/docker/registry/tls && echo present || echo absent").strip() == "absent"
    status = _get(f"http://{base}/v2/")[0]
    assert status == 200
