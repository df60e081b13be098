"""Unit tests of the zk_sync service's exit codes for OS errors (issue 20): only a metrics port
it cannot bind is a setting (exit 2, not restarted); any other OSError exits 1, which systemd
retries (roles/zk_sync/templates/zk-sync.service.j2: RestartPreventExitStatus=2 4)."""

from __future__ import annotations

import errno
import json
import socket

import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync_metrics
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_engine import SyncEngine
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_service import service_main

pytest.importorskip("prometheus_client")


def _config(tmp_path, **extra) -> str:
    conf = {
        "source": {"hosts": "127.0.0.1:1"},
        "target": {"hosts": "127.0.0.2:1"},
        "options": {"paths": ["/a"]},
        **extra,
    }
    path = tmp_path / "zk-sync.json"
    path.write_text(json.dumps(conf))
    return str(path)


def test_a_metrics_port_in_use_exits_2(tmp_path, caplog):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code = service_main([_config(tmp_path, metrics_port=port, metrics_address="127.0.0.1")])
    assert code == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors and errors[0].startswith(f"metrics_port: cannot listen on 127.0.0.1:{port}: "), errors


def test_a_metrics_port_it_may_not_bind_exits_2(tmp_path, monkeypatch, caplog):
    def refused(*_a, **_k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(_zk_sync_metrics.prometheus_client, "start_http_server", refused)
    assert service_main([_config(tmp_path, metrics_port=80, metrics_address="127.0.0.1")]) == 2
    assert any(r.getMessage().startswith("metrics_port: cannot listen on 127.0.0.1:80") for r in caplog.records)


@pytest.mark.parametrize(
    "error",
    [
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        OSError(errno.ENETUNREACH, "Network is unreachable"),
        FileNotFoundError(errno.ENOENT, "No such file or directory", "/etc/zk-sync/ca.pem"),
    ],
)
def test_any_other_os_error_exits_1_so_that_systemd_retries(tmp_path, monkeypatch, caplog, error):
    def failing(self):
        raise error

    monkeypatch.setattr(SyncEngine, "open", failing)
    assert service_main([_config(tmp_path)]) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == [f"{type(error).__name__}: {error} (the unit retries)"], errors
    assert not errors[0].startswith("metrics_port")
