"""zk_node over TLS (use_ssl, ca, certfile, keyfile, verify_certs) against a real TLS-only-for-clients member.

The member and its certificates: the ``tls`` fixture (tests/conftest.py, tests/fixtures/zk_tls.py).
"""

from __future__ import annotations

import uuid

from ansible_collections.orchestrator.platform.tests.fixtures.zk_ensemble import ZkEnsemble
from ansible_collections.orchestrator.platform.tests.support.ansible_run import run_playbook
from ansible_collections.orchestrator.platform.tests.support.zk_client import kazoo_client


def test_zk_node_over_tls(tls: tuple[str, dict[str, str], ZkEnsemble]) -> None:
    secure, certs, _ens = tls
    path = f"/tls-{uuid.uuid4().hex[:8]}"
    options = {"zk_hosts": secure, "zk_path": path, "zk_value": "over tls", "zk_use_ssl": True, "zk_verify_certs": True}
    options.update({f"zk_{k}": v for k, v in certs.items()})
    first = run_playbook("zk_node.yml", options)
    assert first.get("failed") is not True, first.get("msg")
    assert first["changed"] is True
    assert run_playbook("zk_node.yml", options)["changed"] is False

    with kazoo_client(secure, use_ssl=True, verify_certs=True, **certs) as client:
        assert client.get(path)[0] == b"over tls"


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
    with kazoo_client(ens.connect_string) as client:
        assert client.exists(path) is None
