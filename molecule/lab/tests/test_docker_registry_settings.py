"""The docker role's registry settings on the lab's agents, from outside the role.

Bad settings are refused by the preflight before anything changes. Added settings are applied
by a RELOAD of the engine (same process, containers untouched) and read back from its /info;
check mode changes nothing; a CA dropped from docker_registry_ca_certs is removed; the
inventory's own settings are put back at the end. The agents' Mesos is the project's PROTOCOL
DOUBLE; the engines are real (Debian's docker.io, nested).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from lab_inventory import AGENTS, group_vars
from scenario_helpers import changed_counts, docker_exec, run_playbook

AGENT_VARS = group_vars("mesos_agents")
EXTRA_REGISTRY = "registry.invalid:5000"
EXTRA_MIRROR = "https://mirror.invalid"
CA_FILE = f"/etc/docker/certs.d/{EXTRA_REGISTRY}/ca.crt"
MANIFEST = "/etc/docker/certs.d/.orchestrator-platform-managed"

PLAY = """\
- name: The Docker engine alone
  hosts: mesos_agents
  become: true
  gather_facts: false
  roles:
    - role: orchestrator.platform.docker
"""

BAD = [
    pytest.param(
        {"docker_insecure_registries": ["http://lab-master1:5000"]},
        "docker_insecure_registries: http://lab-master1:5000 is not host[:port] or an IPv4 CIDR",
        id="insecure-registry-with-scheme",
    ),
    pytest.param(
        {"docker_insecure_registries": ["lab-master1:5000/v2"]},
        "docker_insecure_registries: lab-master1:5000/v2 is not host[:port]",
        id="insecure-registry-with-path",
    ),
    pytest.param(
        {"docker_registry_mirrors": ["mirror.example.net"]},
        "docker_registry_mirrors: mirror.example.net is not an http(s) URL",
        id="mirror-not-a-url",
    ),
    pytest.param(
        {"docker_registry_mirrors": ["https://mirror.example.net/docker"]},
        "docker_registry_mirrors: https://mirror.example.net/docker is not an http(s) URL of a host",
        id="mirror-with-path",
    ),
    pytest.param(
        {"docker_registry_ca_certs": {"https://registry.example.net": "x"}},
        "docker_registry_ca_certs: the key(s) https://registry.example.net must be host[:port]",
        id="ca-key-with-scheme",
    ),
    pytest.param(
        {"docker_registry_ca_certs": {"registry.example.net:5000": "/etc/ssl/ca.pem"}},
        "docker_registry_ca_certs: the value(s) for registry.example.net:5000 must be PEM text",
        id="ca-value-not-pem",
    ),
    pytest.param(
        {"docker_daemon_config": {"insecure-registries": ["lab-master1:5000"]}},
        "insecure registries with docker_insecure_registries",
        id="registries-through-daemon-config",
    ),
]


@pytest.fixture(scope="module")
def play(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("docker") / "docker.yml"
    path.write_text(PLAY)
    return path


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real self-signed certificate for registry.invalid (the engine parses it at pull time)."""
    tmp = tmp_path_factory.mktemp("ca")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=registry.invalid",
         "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem")],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return (tmp / "cert.pem").read_text()


def _engine(agent: str) -> dict[str, str]:
    """What a reload must keep and what the settings change: the engine's process and files."""
    return {
        "pid": docker_exec(agent, "systemctl show -p MainPID --value docker").strip(),
        "daemon.json": docker_exec(agent, "md5sum /etc/docker/daemon.json"),
        "certs": docker_exec(agent, "ls -aR /etc/docker/certs.d; cat /etc/docker/certs.d/*/ca.crt; true 2>/dev/null"),
    }


def _registry_config(agent: str) -> dict:
    return json.loads(docker_exec(agent, "docker info --format '{{json .RegistryConfig}}'"))


@pytest.mark.parametrize(("extra", "message"), BAD)
def test_bad_registry_settings_are_refused_before_anything_changes(play, extra, message):
    before = {agent: _engine(agent) for agent in AGENTS}
    result = run_playbook(play, "-e", json.dumps(extra), "--tags", "docker_preflight")
    assert result.returncode != 0, result.stdout[-3000:]
    assert message in re.sub(r"\s+", " ", result.stdout), result.stdout[-3000:]
    assert "Nothing was changed" in result.stdout
    assert {agent: _engine(agent) for agent in AGENTS} == before


@pytest.mark.disruptive
def test_registry_settings_reload_the_engine_keep_containers_and_are_undone(play, ca_pem):
    image = group_vars("all")["lab_task_image"]
    extra = json.dumps(
        {
            "docker_insecure_registries": [*AGENT_VARS["docker_insecure_registries"], EXTRA_REGISTRY],
            "docker_registry_mirrors": [EXTRA_MIRROR],
            "docker_registry_ca_certs": {EXTRA_REGISTRY: ca_pem},
        }
    )
    original = {agent: _engine(agent) for agent in AGENTS}
    for agent in AGENTS:
        # A container the settings must not disturb (the image is on the agent: test_registry).
        docker_exec(agent, f"docker pull -q {image} >/dev/null; docker rm -f keep-running >/dev/null 2>&1; "
                    f"docker run -d --name keep-running --network none {image} sleep 600")  # fmt: skip
    try:
        # Check mode with diff: reported, nothing written, nothing reloaded.
        checked = run_playbook(play, "-e", extra, "--check", "--diff")
        assert checked.returncode == 0, checked.stdout[-4000:]
        assert all(changed_counts(checked.stdout)[agent] > 0 for agent in AGENTS), checked.stdout[-3000:]
        assert re.search(rf'^\+\s+"{re.escape(EXTRA_REGISTRY)}"', checked.stdout, re.M), checked.stdout[-3000:]
        assert {agent: _engine(agent) for agent in AGENTS} == original

        applied = run_playbook(play, "-e", extra)
        assert applied.returncode == 0, applied.stdout[-4000:]
        assert "RUNNING HANDLER [orchestrator.platform.docker : Restart the Docker engine]" in applied.stdout
        for agent in AGENTS:
            now = _engine(agent)
            assert now["pid"] == original[agent]["pid"], "reloaded, not restarted"
            registry = _registry_config(agent)
            assert registry["IndexConfigs"][EXTRA_REGISTRY]["Secure"] is False
            assert registry["Mirrors"] == [EXTRA_MIRROR + "/"]
            assert docker_exec(agent, f"stat -c '%a %U' {CA_FILE}").split() == ["644", "root"]
            assert docker_exec(agent, f"cat {CA_FILE}") == ca_pem.strip() + "\n"
            assert docker_exec(agent, f"cat {MANIFEST}") == EXTRA_REGISTRY + "\n"
            assert docker_exec(agent, "docker inspect -f '{{.State.Running}}' keep-running").strip() == "true"

        again = run_playbook(play, "-e", extra)
        assert again.returncode == 0, again.stdout[-4000:]
        assert set(changed_counts(again.stdout).values()) == {0}, again.stdout[-3000:]
    finally:
        # The inventory's own settings: the extra registry, mirror and CA go again.
        restored = run_playbook(play)
        for agent in AGENTS:
            docker_exec(agent, "docker rm -f keep-running >/dev/null 2>&1", check=False)
    assert restored.returncode == 0, restored.stdout[-4000:]
    for agent in AGENTS:
        now = _engine(agent)
        assert now["pid"] == original[agent]["pid"]
        assert now["daemon.json"] == original[agent]["daemon.json"]
        assert docker_exec(agent, f"test -e {CA_FILE} && echo present || echo absent").strip() == "absent"
        assert docker_exec(agent, f"cat {MANIFEST}") == ""
        registry = _registry_config(agent)
        assert EXTRA_REGISTRY not in registry["IndexConfigs"]
        assert not registry["Mirrors"]
