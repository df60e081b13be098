"""mesos_common's three real install sources, end to end: apt repository, .deb file, tarball.

Apache Mesos cannot be obtained on these machines, so the artefacts are BUILT here, in a
temporary directory, from the project's PROTOCOL DOUBLE of Mesos (doubles/mesos, NOT Apache
Mesos), exactly in the shapes the role documents:

- a Debian package ``mesos`` (``dpkg-deb --build``): the double under
  /usr/lib/mesos-protocol-double, /usr/sbin/mesos-master and /usr/sbin/mesos-agent entry points,
  ``Depends: python3, python3-kazoo``, its description saying it is the protocol double;
- a signed apt repository holding two versions of it, a third one published later (Packages and
  Release written here, InRelease and Release.gpg signed with a throwaway GPG key, whose public
  key is served both binary and ASCII-armoured);
- a tarball whose top directory holds sbin/mesos-master and sbin/mesos-agent, with its sha256.

Each version's copy of the double reports its own version (``mesos-master --version``), so
every switch of version or source is visible in what the installed binaries answer.

They are served over HTTP from this host on the default Docker bridge's gateway address
(reachable only from this host and its containers) to ONE systemd container of the project's
base image, where ``ansible-playbook`` runs the mesos_common role alone (preflight + install,
connection community.docker.docker_api) for each source in turn: apt (a pinned version, then an
upgrade to the late build), tarball, .deb, each switch removing the previous installation.
Every step is read back from the container (dpkg, apt-mark, the files and links, the binaries'
answers), every first run of a source is repeated and must change nothing, and a ``--check`` run
before each change must change nothing (a snapshot of the installation's files and dpkg's
database, before and after) while predicting a change.
Debian packages (python3-kazoo) come from the mirror through the host-side apt cache, as in
the Molecule scenarios.
"""

from __future__ import annotations

import base64
import difflib
import gzip
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.orchestrator.platform.tests.support.ansible_run import ansible_env, ansible_playbook
from ansible_collections.orchestrator.platform.tests.support.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]
DOUBLE_DIR = REPO / "doubles" / "mesos"
IMAGE = os.environ.get("ORCH_BASE_IMAGE", "orchestrator-platform/debian-systemd:bookworm")
LABEL = {"owner": "pytest-mesos-install-sources"}
SUITE = "bookworm"
PACKAGE = "mesos"
# Builds of the double, as upstream versions of a package would be; LATEST is published late.
OLD, NEW, LATEST = "1.11.0", "1.11.1", "1.11.2"
DEB_REVISION = "0.double"
TARBALL_DIR = "/opt/mesos"
BINARIES = ("mesos-master", "mesos-agent")
# community.docker's connection through the Docker API: the same as community.docker.docker
# (the CLI), about a quarter faster per task here.
CONNECTION = "community.docker.docker_api"

pytestmark = pytest.mark.slow


# --------------------------------------------------------------------------------------------
# Artefacts built from the double
# --------------------------------------------------------------------------------------------


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def double_module(name: str, version: str) -> str:
    """A module of the double's package as a build of ``version`` (--version prints MESOS_VERSION)."""
    text = (DOUBLE_DIR / "mesos_double" / name).read_text(encoding="utf-8")
    if name != "common.py":
        return text
    patched, count = re.subn(r'^MESOS_VERSION = "[^"]*"$', f'MESOS_VERSION = "{version}"', text, flags=re.M)
    assert count == 1, "doubles/mesos/mesos_double/common.py no longer defines MESOS_VERSION on one line"
    return patched


def install_double(root: Path, version: str, bindir: str) -> None:
    """The double's program and its bin/ entry scripts under ``root`` (entry scripts in ``bindir``)."""
    (root / bindir).mkdir(parents=True)
    (root / "mesos_double").mkdir()
    for module in sorted(p.name for p in (DOUBLE_DIR / "mesos_double").glob("*.py")):
        (root / "mesos_double" / module).write_text(double_module(module, version), encoding="utf-8")
        (root / "mesos_double" / module).chmod(0o644)
    for name in BINARIES:
        shutil.copy(DOUBLE_DIR / "bin" / name, root / bindir / name)
        (root / bindir / name).chmod(0o755)


def build_deb(work: Path, version: str) -> Path:
    full_version = f"{version}-{DEB_REVISION}"
    root = work / f"pkg-{full_version}"
    lib = root / "usr" / "lib" / "mesos-protocol-double"
    install_double(lib, version, "bin")
    (root / "usr" / "sbin").mkdir(parents=True)
    for name in BINARIES:
        # The double's entry scripts find the mesos_double package through readlink -f "$0".
        (root / "usr" / "sbin" / name).symlink_to(f"../lib/mesos-protocol-double/bin/{name}")
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text(
        f"Package: {PACKAGE}\n"
        f"Version: {full_version}\n"
        "Architecture: all\n"
        "Maintainer: orchestrator.platform maintainers <maintainers@orchestrator-platform.invalid>\n"
        "Depends: python3, python3-kazoo\n"
        "Section: admin\n"
        "Priority: optional\n"
        "Description: PROTOCOL DOUBLE of Apache Mesos for tests (this is NOT Apache Mesos)\n"
        " The orchestrator.platform project's protocol double of Apache Mesos\n"
        " (doubles/mesos), packaged by its integration tests to exercise the\n"
        " mesos_common role's apt and .deb install sources. It answers Mesos's\n"
        " flags and HTTP endpoints where the collection touches them and runs\n"
        " no tasks. It is not Apache Mesos and must never be deployed as such.\n",
        encoding="utf-8",
    )
    for d in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        d.chmod(0o755)
    deb = work / f"{PACKAGE}_{full_version}_all.deb"
    run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(deb)])
    return deb


def build_tarball(work: Path, version: str) -> tuple[Path, str]:
    """mesos-<version>-double.tar.gz: top directory with sbin/mesos-{master,agent}; and its sha256."""
    top = f"mesos-{version}-double"
    tree = work / "tarball" / top
    install_double(tree, version, "sbin")
    path = work / f"{top}.tar.gz"

    def as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    with tarfile.open(path, "w:gz") as tar:
        tar.add(tree, arcname=top, filter=as_root)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


class Gpg:
    """A throwaway signing key in a GNUPGHOME of its own (short path: gpg-agent's socket)."""

    def __init__(self) -> None:
        if shutil.which("gpg") is None:
            pytest.fail(
                "gpg is missing: the test signs its apt repository with a throwaway key "
                "(Debian package gnupg; tools/setup's machine kind has it)"
            )
        self.home = tempfile.mkdtemp(prefix="gpg-")
        self.env = {**os.environ, "GNUPGHOME": self.home}
        uid = "orchestrator.platform test repository, THROWAWAY <test-repo@orchestrator-platform.invalid>"
        self.gpg("--quick-generate-key", uid, "ed25519", "sign", "1d")
        self.fingerprint = next(
            line.split(":")[9]
            for line in self.gpg("--with-colons", "--list-secret-keys").splitlines()
            if line.startswith("fpr:")
        )

    def gpg(self, *args: str) -> str:
        return run(
            ["gpg", "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", "", *args], env=self.env
        ).stdout

    def export(self, path: Path, *, armor: bool) -> Path:
        self.gpg(*(["--armor"] if armor else []), "--output", str(path), "--export", self.fingerprint)
        return path

    def sign(self, release: Path) -> None:
        self.gpg(
            "--local-user",
            self.fingerprint,
            "--clearsign",
            "--output",
            str(release.with_name("InRelease")),
            str(release),
        )
        self.gpg(
            "--local-user",
            self.fingerprint,
            "--armor",
            "--detach-sign",
            "--output",
            str(release.with_name("Release.gpg")),
            str(release),
        )

    def close(self) -> None:
        subprocess.run(["gpgconf", "--kill", "all"], env=self.env, capture_output=True, check=False)
        shutil.rmtree(self.home, ignore_errors=True)


def build_apt_repository(root: Path, debs: list[Path], gpg: Gpg, arch: str) -> None:
    """A flat-pool apt repository: dists/<suite>/main/binary-<arch>/Packages(.gz), signed Release."""
    pool = root / "pool" / "main" / "m" / PACKAGE
    pool.mkdir(parents=True)
    stanzas = []
    for deb in debs:
        shutil.copy(deb, pool / deb.name)
        data = deb.read_bytes()
        control = run(["dpkg-deb", "--field", str(deb)]).stdout.rstrip("\n")
        stanzas.append(
            f"{control}\nFilename: pool/main/m/{PACKAGE}/{deb.name}\nSize: {len(data)}\n"
            f"MD5sum: {hashlib.md5(data).hexdigest()}\nSHA256: {hashlib.sha256(data).hexdigest()}\n"
        )
    dist = root / "dists" / SUITE
    index_dir = dist / "main" / f"binary-{arch}"
    index_dir.mkdir(parents=True)
    packages = "\n".join(stanzas).encode()
    (index_dir / "Packages").write_bytes(packages)
    (index_dir / "Packages.gz").write_bytes(gzip.compress(packages, mtime=0))
    sums = []
    for f in sorted(p for p in dist.rglob("*") if p.is_file()):
        data = f.read_bytes()
        sums.append(f" {hashlib.sha256(data).hexdigest()} {len(data)} {f.relative_to(dist).as_posix()}")
    release = dist / "Release"
    release.write_text(
        "Origin: orchestrator-platform-tests\n"
        "Label: Mesos protocol double (test repository, NOT Apache Mesos)\n"
        f"Suite: {SUITE}\nCodename: {SUITE}\n"
        f"Date: {formatdate(usegmt=True)}\n"
        f"Architectures: {arch}\nComponents: main\n"
        "SHA256:\n" + "\n".join(sums) + "\n",
        encoding="utf-8",
    )
    gpg.sign(release)


class Artefacts:
    """The builds of the double: .debs, the tarball, the signed apt repository and its key."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.served = work / "www"
        self.debs: dict[str, Path] = {}
        self.published: list[str] = []
        self.arch = run(["dpkg", "--print-architecture"]).stdout.strip()
        self.gpg = Gpg()
        (self.served / "keys").mkdir(parents=True)
        self.gpg.export(self.served / "keys" / "mesos-archive-keyring.gpg", armor=False)
        self.gpg.export(self.served / "keys" / "mesos-archive-keyring.asc", armor=True)
        self.key = (self.served / "keys" / "mesos-archive-keyring.gpg").read_bytes()
        tarball, self.tarball_sha256 = build_tarball(work, OLD)
        (self.served / "tarballs").mkdir()
        self.tarball = self.served / "tarballs" / tarball.name
        shutil.copy(tarball, self.tarball)

    def deb(self, version: str) -> Path:
        if version not in self.debs:
            self.debs[version] = build_deb(self.work, version)
        return self.debs[version]

    def publish(self, *versions: str) -> None:
        """(Re)write the apt repository with these versions, signed anew, as a mirror does."""
        self.published += [v for v in versions if v not in self.published]
        shutil.rmtree(self.served / "debian", ignore_errors=True)
        build_apt_repository(self.served / "debian", [self.deb(v) for v in self.published], self.gpg, self.arch)

    def answer(self, version: str) -> str:
        """What this build of the double answers to --version, run here on the controller."""
        root = self.work / f"pkg-{version}-{DEB_REVISION}" / "usr" / "lib" / "mesos-protocol-double"
        self.deb(version)
        return run([str(root / "bin" / "mesos-master"), "--version"]).stdout.strip()

    def close(self) -> None:
        self.gpg.close()


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Artefacts]:
    if shutil.which("dpkg-deb") is None:
        pytest.fail("dpkg-deb is missing (Debian package dpkg): this test builds .deb packages with it")
    a = Artefacts(tmp_path_factory.mktemp("mesos-artefacts"))
    try:
        a.publish(OLD, NEW)
        yield a
    finally:
        a.close()


# --------------------------------------------------------------------------------------------
# The HTTP server (host side) and the container
# --------------------------------------------------------------------------------------------


@dataclass
class Server:
    base_url: str
    requests: list[str] = field(default_factory=list)


def docker_client() -> Any:
    """The Docker engine that tools/setup starts: a missing one FAILS the test (never a skip)."""
    problem = ""
    try:
        import docker  # noqa: PLC0415 - a clear failure below instead of an import error at collection
    except ImportError as exc:
        pytest.fail(f"the docker SDK is missing from this venv ({exc}): run tools/setup, then `. tools/env`")
    try:
        client = docker.from_env()
        client.ping()
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        problem = f"the base image {IMAGE} is missing: run tools/setup (tools/build-base-image)"
    except Exception as exc:  # any other failure means the same thing here
        problem = f"Docker is not reachable ({exc}): this test needs the engine that tools/setup starts"
    if problem:
        pytest.fail(problem, pytrace=False)
    return client


class Container:
    def __init__(self, obj: Any) -> None:
        self.obj = obj
        self.name = obj.name

    def sh(self, script: str, *, check: bool = True) -> tuple[int, str]:
        rc, out = self.obj.exec_run(["/bin/sh", "-c", script], demux=False)
        text = (out or b"").decode(errors="replace")
        if check and rc != 0:
            raise AssertionError(f"in {self.name}: {script!r} failed (rc={rc}):\n{text}")
        return rc, text


@pytest.fixture(scope="module")
def container() -> Iterator[Container]:
    client = docker_client()
    name = f"mesos-install-sources-{uuid.uuid4().hex[:8]}"
    obj = client.containers.run(
        IMAGE,
        command="/lib/systemd/systemd",
        name=name,
        hostname=name,
        labels=LABEL,
        detach=True,
        cgroupns="host",
        volumes={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "ro"}},
        tmpfs={"/run": "", "/run/lock": ""},
        stop_signal="SIGRTMIN+3",
        # The host-side apt cache of tools/setup answers on the default bridge's gateway.
        extra_hosts={"host.docker.internal": "host-gateway"},
        mem_limit="512m",
    )
    try:
        c = Container(obj)

        def state() -> str:
            return c.sh("systemctl is-system-running", check=False)[1].strip()

        booted = ("running", "degraded")
        wait_for(lambda: state() in booted, 60, f"systemd in {name} to boot", interval=0.2, details=state)
        yield c
    finally:
        obj.remove(force=True)


@pytest.fixture(scope="module")
def server(artefacts: Artefacts, container: Container) -> Iterator[Server]:
    """http.server on the default bridge's gateway address: only this host and its containers reach it."""
    container.obj.reload()
    gateway = container.obj.attrs["NetworkSettings"]["Gateway"]
    assert gateway, f"container {container.name} has no gateway on the default bridge"
    srv = Server(base_url="")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            srv.requests.append(f"{self.command} {self.path} {code}")

    httpd = http.server.ThreadingHTTPServer((gateway, 0), partial(Handler, directory=str(artefacts.served)))
    srv.base_url = f"http://{gateway}:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, name="mesos-artefacts-http", daemon=True)
    thread.start()
    # The image sends every apt download through the host-side cache when it answers; the
    # operator's mirror (here: this server) is fetched directly, as most mirrors would be.
    container.sh(f"echo 'Acquire::http::Proxy::{gateway} \"DIRECT\";' >/etc/apt/apt.conf.d/10test-mirror-direct")
    try:
        yield srv
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


# --------------------------------------------------------------------------------------------
# Running the role, reading back the container
# --------------------------------------------------------------------------------------------

PLAYBOOK = """\
- name: The mesos_common role alone (preflight + install)
  hosts: all
  gather_facts: false
  roles:
    - role: orchestrator.platform.mesos_common
"""


@dataclass
class Result:
    rc: int
    changed: int
    changed_tasks: list[str]
    output: str


def converge(container: Container, tmp_path: Path, settings: dict, *, check: bool = False) -> Result:
    (tmp_path / "play.yml").write_text(PLAYBOOK, encoding="utf-8")
    (tmp_path / "vars.json").write_text(
        json.dumps({"ansible_python_interpreter": "/usr/bin/python3", **settings}), encoding="utf-8"
    )
    args = ["-c", CONNECTION, "-e", f"@{tmp_path / 'vars.json'}", *(["--check"] if check else [])]
    env = ansible_env(
        ANSIBLE_RETRY_FILES_ENABLED="false", ANSIBLE_PIPELINING="true", ANSIBLE_DISPLAY_SKIPPED_HOSTS="false"
    )
    started = time.monotonic()
    proc = ansible_playbook(
        tmp_path / "play.yml", *args, inventory=f"{container.name},", env=env, cwd=tmp_path, timeout=600
    )
    print(
        f"ansible-playbook ({settings['mesos_common_install_source']}{', --check' if check else ''}): "
        f"{time.monotonic() - started:.1f} s"
    )
    output = proc.stdout
    recap = re.search(rf"^{re.escape(container.name)}\s*:\s*ok=\d+\s+changed=(\d+)", output, re.M)
    changed_tasks = []
    task = ""
    for line in output.splitlines():
        m = re.match(r"^TASK \[(.*)\]", line)
        if m:
            task = m.group(1)
        elif line.startswith("changed:"):
            changed_tasks.append(task)
    return Result(proc.returncode, int(recap.group(1)) if recap else -1, changed_tasks, output)


def converged(container: Container, tmp_path: Path, settings: dict, *, check: bool = False) -> Result:
    result = converge(container, tmp_path, settings, check=check)
    assert result.rc == 0, f"ansible-playbook{' --check' if check else ''} failed:\n{result.output[-6000:]}"
    return result


SNAPSHOT = r"""
dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\n' mesos 2>/dev/null || echo 'mesos: unknown'
echo "holds: $(apt-mark showhold | tr '\n' ' ')"
for p in /usr/sbin/mesos-master /usr/sbin/mesos-agent /opt/mesos /etc/apt/sources.list.d /etc/apt/keyrings \
         /var/cache/mesos-platform /var/tmp /usr/lib/mesos-protocol-double /usr/local/lib/mesos-protocol-double; do
    [ -e "$p" ] || [ -L "$p" ] || { echo "absent $p"; continue; }
    find "$p" -printf '%p %y %m %l\n'
    find "$p" -type f -exec sha256sum {} +
done | sort
sha256sum /var/lib/dpkg/status
"""


def snapshot(container: Container) -> str:
    return container.sh(SNAPSHOT)[1]


def answers(container: Container) -> dict[str, str]:
    """What the installed binaries answer to --version, run as the units run them (/usr/sbin/...)."""
    return {b: container.sh(f"/usr/sbin/{b} --version 2>&1")[1].strip() for b in BINARIES}


def package_state(container: Container) -> str:
    """'<version> <status>' of the mesos package ('1.11.0-0.double installed'), '' when dpkg does not know it."""
    rc, out = container.sh(f"dpkg-query -W -f='${{Version}} ${{db:Status-Status}}' {PACKAGE}", check=False)
    return out.strip() if rc == 0 else ""


def holds(container: Container) -> list[str]:
    return container.sh("apt-mark showhold")[1].split()


def exists(container: Container, path: str) -> bool:
    return container.sh(f"test -e {path} || test -L {path}", check=False)[0] == 0


def assert_package_installation(container: Container, artefacts: Artefacts, version: str) -> None:
    """The package is installed at ``version``, intact, and /usr/sbin/mesos-* are its own files."""
    assert package_state(container) == f"{version}-{DEB_REVISION} installed", package_state(container)
    status = container.sh(f"dpkg -s {PACKAGE}")[1]
    assert "PROTOCOL DOUBLE of Apache Mesos" in status, status
    for b in BINARIES:
        owner = container.sh(f"dpkg -S /usr/sbin/{b}")[1]
        assert owner.startswith(f"{PACKAGE}: "), owner
        target = container.sh(f"readlink -f /usr/sbin/{b}")[1].strip()
        assert target == f"/usr/lib/mesos-protocol-double/bin/{b}", target
    # dpkg --verify names every file of the package that is missing or altered on disk.
    verify = container.sh(f"dpkg --verify {PACKAGE}", check=False)
    assert verify == (0, ""), f"files of the package were changed on disk: {verify}"
    assert answers(container) == dict.fromkeys(BINARIES, artefacts.answer(version))
    # No other source's installation is left behind.
    assert not exists(container, f"{TARBALL_DIR}/current"), "the tarball's current link is left behind"


def assert_idempotent(container: Container, tmp_path: Path, settings: dict) -> None:
    again = converged(container, tmp_path, settings)
    assert again.changed == 0, f"the second run changed {again.changed_tasks}:\n{again.output[-4000:]}"


def assert_check_changes_nothing(container: Container, tmp_path: Path, settings: dict) -> None:
    before = snapshot(container)
    result = converged(container, tmp_path, settings, check=True)
    assert result.changed > 0, f"--check predicted no change:\n{result.output[-4000:]}"
    after = snapshot(container)
    assert after == before, (
        f"--check changed the host (tasks reporting a change: {result.changed_tasks}):\n"
        + "\n".join(difflib.unified_diff(before.splitlines(), after.splitlines(), "before", "after", lineterm=""))
    )


# --------------------------------------------------------------------------------------------
# The sources, in turn, on the same host
# --------------------------------------------------------------------------------------------


def apt_settings(server: Server, version: str, key: str) -> dict:
    return {
        "mesos_common_install_source": "apt",
        "mesos_common_apt_repository_url": f"{server.base_url}/debian",
        "mesos_common_apt_repository_suite": SUITE,
        "mesos_common_apt_key_url": f"{server.base_url}/keys/{key}",
        "mesos_common_package_version": f"{version}-{DEB_REVISION}",
    }


def tarball_settings(server: Server, artefacts: Artefacts) -> dict:
    return {
        "mesos_common_install_source": "tarball",
        "mesos_common_tarball_url": f"{server.base_url}/tarballs/{artefacts.tarball.name}",
        "mesos_common_tarball_checksum": f"sha256:{artefacts.tarball_sha256}",
        "mesos_common_tarball_install_dir": TARBALL_DIR,
        # What the double needs at run time (a Mesos build lists its libraries here).
        "mesos_common_tarball_dependencies": ["python3", "python3-kazoo"],
    }


def deb_settings(artefacts: Artefacts, version: str) -> dict:
    return {"mesos_common_install_source": "deb", "mesos_common_deb_file": str(artefacts.deb(version))}


def test_apt_repository_pinned_and_held(
    container: Container, server: Server, artefacts: Artefacts, tmp_path: Path
) -> None:
    """The older of two versions of a signed repository, its key served in binary form."""
    settings = apt_settings(server, OLD, "mesos-archive-keyring.gpg")
    assert_check_changes_nothing(container, tmp_path, settings)

    converged(container, tmp_path, settings)
    assert_package_installation(container, artefacts, OLD)
    assert holds(container) == [PACKAGE]
    # Pinned: the repository's candidate is the newer build, the role installed the pinned one.
    policy = container.sh(f"apt-cache policy {PACKAGE}")[1]
    assert f"Installed: {OLD}-{DEB_REVISION}" in policy, policy
    assert f"Candidate: {NEW}-{DEB_REVISION}" in policy, policy
    # signed-by names the stored key; apt verified the repository's InRelease with it (apt
    # refuses unsigned repositories and keeps no lists of them).
    sources = container.sh("cat /etc/apt/sources.list.d/mesos.list")[1]
    keyring = re.search(r"\[signed-by=(\S+)\]", sources)
    assert keyring, sources
    # The key was served in binary form: stored as such, under a name apt reads as binary.
    assert keyring.group(1) == "/etc/apt/keyrings/mesos.gpg", sources
    stored = container.sh(f"base64 -w0 {keyring.group(1)}")[1]
    assert base64.b64decode(stored) == artefacts.key, "the stored key is not the repository's key"
    host = urllib.parse.urlsplit(server.base_url)
    lists = container.sh(f"ls /var/lib/apt/lists/ | grep -F '{host.hostname}'")[1]
    assert f"_dists_{SUITE}_InRelease" in lists, lists
    assert any(r.startswith(f"GET /debian/pool/main/m/{PACKAGE}/{PACKAGE}_{OLD}") for r in server.requests), (
        server.requests
    )

    assert_idempotent(container, tmp_path, settings)


def test_apt_upgrade_to_a_new_build(container: Container, server: Server, artefacts: Artefacts, tmp_path: Path) -> None:
    """A build published after the last run, pinned on purpose: the held package is upgraded.

    The key is now served ASCII-armoured from another URL (a key change in the inventory).
    """
    if not package_state(container).startswith(f"{OLD}-"):
        converged(container, tmp_path, apt_settings(server, OLD, "mesos-archive-keyring.gpg"))
    artefacts.publish(LATEST)
    settings = apt_settings(server, LATEST, "mesos-archive-keyring.asc")
    assert_check_changes_nothing(container, tmp_path, settings)

    converged(container, tmp_path, settings)
    assert_package_installation(container, artefacts, LATEST)
    assert holds(container) == [PACKAGE]
    # The key came armoured this time: stored as such, and the binary one is gone.
    assert "[signed-by=/etc/apt/keyrings/mesos.asc]" in container.sh("cat /etc/apt/sources.list.d/mesos.list")[1]
    stored = container.sh("cat /etc/apt/keyrings/mesos.asc")[1]
    assert stored == (artefacts.served / "keys" / "mesos-archive-keyring.asc").read_text(encoding="ascii")
    assert not exists(container, "/etc/apt/keyrings/mesos.gpg")
    # (Idempotence of the apt source is proven by the first test.)


def test_switch_to_tarball(container: Container, server: Server, artefacts: Artefacts, tmp_path: Path) -> None:
    settings = tarball_settings(server, artefacts)
    assert_check_changes_nothing(container, tmp_path, settings)

    converged(container, tmp_path, settings)
    top = artefacts.tarball.name.removesuffix(".tar.gz")
    assert container.sh(f"readlink {TARBALL_DIR}/current")[1].strip() == f"{TARBALL_DIR}/{top}"
    for b in BINARIES:
        assert container.sh(f"readlink /usr/sbin/{b}")[1].strip() == f"{TARBALL_DIR}/current/sbin/{b}"
        assert (
            container.sh(
                f"test -x {TARBALL_DIR}/{top}/sbin/{b} && test ! -L {TARBALL_DIR}/{top}/sbin/{b}", check=False
            )[0]
            == 0
        )
    listing = container.sh(f"cd {TARBALL_DIR}/{top} && find . -type f | sort")[1].split()
    modules = sorted(f"./mesos_double/{p.name}" for p in (DOUBLE_DIR / "mesos_double").glob("*.py"))
    assert listing == sorted([*modules, "./sbin/mesos-agent", "./sbin/mesos-master"]), listing
    assert answers(container) == dict.fromkeys(BINARIES, artefacts.answer(OLD))
    # One installation at a time: the package of the apt source is removed, with its hold,
    # its repository and its key.
    assert not package_state(container).endswith(" installed"), package_state(container)
    assert PACKAGE not in holds(container)
    assert not exists(container, "/etc/apt/sources.list.d/mesos.list")
    assert not exists(container, "/etc/apt/keyrings/mesos.asc")
    assert not exists(container, "/etc/apt/keyrings/mesos.gpg")

    assert_idempotent(container, tmp_path, settings)


def test_switch_to_deb(container: Container, artefacts: Artefacts, tmp_path: Path) -> None:
    settings = deb_settings(artefacts, NEW)
    assert_check_changes_nothing(container, tmp_path, settings)

    converged(container, tmp_path, settings)
    assert_package_installation(container, artefacts, NEW)
    cached = container.sh(f"sha256sum /var/cache/mesos-platform/{artefacts.deb(NEW).name}")[1].split()[0]
    assert cached == hashlib.sha256(artefacts.deb(NEW).read_bytes()).hexdigest()

    assert_idempotent(container, tmp_path, settings)
