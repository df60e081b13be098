"""zk_node over TLS (use_ssl, ca, certfile, keyfile, verify_certs) against a real TLS-only-for-clients member.

One ZooKeeper 3.8 member with NettyServerCnxnFactory, a secureClientPort that demands a client
certificate (ssl.clientAuth=need), PEM key and trust stores; certificates made with openssl.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from ansible_collections.orchestrator.platform.tests.fixtures.zk_ensemble import ZkEnsemble, free_ports
from ansible_collections.orchestrator.platform.tests.integration.zk_playbook import run_playbook
from kazoo.client import KazooClient


def openssl(*args: str, cwd: pathlib.Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(where: pathlib.Path) -> dict[str, str]:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=zk-it-ca", cwd=where)  # fmt: skip
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", "/CN=127.0.0.1", cwd=where)  # fmt: skip
        (where / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1\n", encoding="ascii")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=where)  # fmt: skip
    (where / "server-keystore.pem").write_text(
        (where / "server.key").read_text(encoding="ascii") + (where / "server.pem").read_text(encoding="ascii"),
        encoding="ascii",
    )
    return {k: str(where / f) for k, f in {"ca": "ca.pem", "certfile": "client.pem", "keyfile": "client.key"}.items()}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str], ZkEnsemble]]:
    if not shutil.which("openssl"):
        pytest.fail("openssl is needed to make the test certificates (Debian package openssl)")
    where = tmp_path_factory.mktemp("zk-tls")
    certs = make_certs(where)
    secure_port = free_ports(1)[0]
    ens = ZkEnsemble(
        size=1,
        name="zktls",
        extra_config={
            "serverCnxnFactory": "org.apache.zookeeper.server.NettyServerCnxnFactory",
            "secureClientPort": secure_port,
            "ssl.keyStore.location": str(where / "server-keystore.pem"),
            "ssl.keyStore.type": "PEM",
            "ssl.trustStore.location": certs["ca"],
            "ssl.trustStore.type": "PEM",
            "ssl.clientAuth": "need",
        },
    )
    try:
        ens.start()
        yield f"127.0.0.1:{secure_port}", certs, ens
    finally:
        ens.stop()


def test_zk_node_over_tls(tls: tuple[str, dict[str, str], ZkEnsemble]) -> None:
    secure, certs, _ens = tls
    path = f"/tls-{uuid.uuid4().hex[:8]}"
    options = {"zk_hosts": secure, "zk_path": path, "zk_value": "over tls", "zk_use_ssl": True, "zk_verify_certs": True}
    options.update({f"zk_{k}": v for k, v in certs.items()})
    first = run_playbook("zk_node.yml", options)
    assert first.get("failed") is not True, first.get("msg")
    assert first["changed"] is True
    assert run_playbook("zk_node.yml", options)["changed"] is False

    client = KazooClient(hosts=secure, use_ssl=True, verify_certs=True, **certs)
    client.start(timeout=15)
    try:
        assert client.get(path)[0] == b"over tls"
    finally:
        client.stop()
        client.close()


def test_tls_without_client_certificate_fails_clearly(tls: tuple[str, dict[str, str], ZkEnsemble]) -> None:
    secure, certs, ens = tls
    path = f"/tls-{uuid.uuid4().hex[:8]}"
    options = {"zk_hosts": secure, "zk_path": path, "zk_value": "x", "zk_use_ssl": True, "zk_ca": certs["ca"]}
    result = run_playbook("zk_node.yml", {**options, "zk_timeout": 3})
    assert result.get("failed") is True
    assert f"cannot connect to ZooKeeper at {secure}" in result["msg"]
    plain = run_playbook("zk_node.yml", {"zk_hosts": secure, "zk_path": path, "zk_value": "x", "zk_timeout": 3})
    assert plain.get("failed") is True
    assert "TLS/plain mismatch" in plain["msg"]
    # nothing was written (read over the plain client port, which the member still serves)
    client = KazooClient(hosts=ens.connect_string)
    client.start(timeout=15)
    try:
        assert client.exists(path) is None
    finally:
        client.stop()
        client.close()
