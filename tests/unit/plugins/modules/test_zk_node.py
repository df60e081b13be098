"""Unit tests of zk_node: input validation (nothing sent) and the read/compare/write logic on a fake client.

The behaviour against a real ensemble is in tests/integration/test_zk_node.py.
"""

from __future__ import annotations

import base64

import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk
from ansible_collections.orchestrator.platform.plugins.modules import zk_node
from ansible_collections.orchestrator.platform.tests.unit.plugins.helpers import run_module
from kazoo.exceptions import NoNodeError, NotEmptyError, RolledBackError
from kazoo.protocol.states import ZnodeStat

OPEN = [{"scheme": "world", "id": "anyone", "perms": "cdrwa"}]


class FakeTxn:
    def __init__(self, client: FakeZk) -> None:
        self.client = client
        self.ops: list[tuple] = []

    def create(self, path: str, value: bytes = b"", acl: list | None = None) -> None:
        self.ops.append(("create", path, value, acl))

    def delete(self, path: str, version: int = -1) -> None:
        self.ops.append(("delete", path))

    def commit(self) -> list:
        self.client.transactions.append(self.ops)
        snapshot = {k: dict(v) for k, v in self.client.nodes.items()}
        results: list = []
        for op in self.ops:
            try:
                if op[0] == "create":
                    parent = op[1].rsplit("/", 1)[0] or "/"
                    if parent not in self.client.nodes:
                        raise NoNodeError()
                    self.client.nodes[op[1]] = {"data": op[2], "acl": _zk.acl_from_kazoo(op[3]), "version": 0}
                else:
                    if any(p.startswith(op[1] + "/") for p in self.client.nodes):
                        raise NotEmptyError()
                    del self.client.nodes[op[1]]
                results.append(True)
            except Exception as exc:
                self.client.nodes = snapshot
                return (
                    [RolledBackError()] * len(results)
                    + [exc]
                    + [RolledBackError()] * (len(self.ops) - len(results) - 1)
                )
        return results


class FakeZk:
    """Just enough of KazooClient for zk_node, with a log of the writes."""

    def __init__(self, nodes: dict[str, dict] | None = None) -> None:
        self.nodes: dict[str, dict] = {"/": {"data": b"", "acl": OPEN, "version": 0}}
        for path, node in (nodes or {}).items():
            self.nodes[path] = {"data": b"", "acl": OPEN, "version": 0, **node}
        self.writes: list[tuple] = []
        self.transactions: list[list] = []

    def _stat(self, path: str) -> ZnodeStat:
        node = self.nodes[path]
        kids = len(self.get_children(path))
        return ZnodeStat(1, 2, 3, 4, node.get("version", 0), 0, node.get("aversion", 0), 0, len(node["data"]), kids, 1)

    def exists(self, path: str) -> ZnodeStat | None:
        return self._stat(path) if path in self.nodes else None

    def get(self, path: str) -> tuple[bytes, ZnodeStat]:
        return self.nodes[path]["data"], self._stat(path)

    def get_acls(self, path: str) -> tuple[list, ZnodeStat]:
        return _zk.acl_to_kazoo(self.nodes[path]["acl"]), self._stat(path)

    def get_children(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        return [p[len(prefix) :] for p in self.nodes if p.startswith(prefix) and "/" not in p[len(prefix) :]]

    def set(self, path: str, value: bytes, version: int = -1) -> None:
        assert isinstance(value, bytes)
        self.writes.append(("set", path, value, version))
        self.nodes[path]["data"] = value
        self.nodes[path]["version"] = self.nodes[path].get("version", 0) + 1

    def set_acls(self, path: str, acls: list, version: int = -1) -> None:
        self.writes.append(("set_acls", path, _zk.acl_from_kazoo(acls), version))
        self.nodes[path]["acl"] = _zk.acl_from_kazoo(acls)

    def transaction(self) -> FakeTxn:
        return FakeTxn(self)

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeZk:
    client = FakeZk()

    def connect(params: dict) -> FakeZk:
        return client

    monkeypatch.setattr(_zk, "connect", connect)
    return client


@pytest.fixture
def no_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    def connect(params: dict) -> None:
        raise AssertionError("the module connected although the input is invalid")

    monkeypatch.setattr(_zk, "connect", connect)


def args(**kw: object) -> dict:
    return {"hosts": "127.0.0.1:2181", **kw}


# --- invalid input: a clear message naming the field, and no connection at all ---------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"path": "relative/path"}, "path: 'relative/path' must start with '/'"),
        ({"path": "/a/"}, "path: '/a/' must not end with '/'"),
        ({"path": "/a", "acl": [{"perms": "rwx"}]}, "acl[0].perms: invalid permission 'x'"),
        ({"path": "/a", "acl": [{"scheme": "digest", "perms": "r"}]}, "acl[0].id: required"),
        ({"path": "/a", "acl": [{"scheme": "auth", "perms": "r"}]}, "acl[0]: the auth scheme"),
        ({"path": "/a", "value": "x" * 11, "max_value_size": 10}, "value: 11 bytes exceed max_value_size 10"),
        (
            {"path": "/a", "value_b64": base64.b64encode(b"\0" * 11).decode(), "max_value_size": 10},
            "value_b64: 11 bytes",
        ),
        ({"path": "/a", "value_b64": "%%%"}, "value_b64: not valid base64"),
        ({"path": "/", "state": "absent"}, "path: refusing to delete '/'"),
        ({"path": "/zookeeper", "state": "absent", "recursive": True}, "path: refusing to delete '/zookeeper'"),
        ({"path": "/zookeeper/quota", "state": "absent"}, "path: refusing to delete '/zookeeper/quota'"),
        ({"path": "/a", "state": "absent", "value": "x"}, "value: not used with state=absent"),
        ({"path": "/a", "timeout": 0}, "timeout: must be more than 0"),
    ],
)
def test_invalid_input_fails_before_connecting(no_connect: None, capsys, params: dict, message: str) -> None:
    failed, result = run_module(zk_node.main, args(**params), capsys)
    assert failed
    assert message in result["msg"]


def test_default_value_limit_is_jute_maxbuffer(no_connect: None, capsys) -> None:
    failed, result = run_module(zk_node.main, args(path="/a", value="x" * 1048576), capsys)
    assert failed
    assert "value: 1048576 bytes exceed max_value_size 1048575" in result["msg"]


def test_value_and_value_b64_are_exclusive(no_connect: None, capsys) -> None:
    failed, result = run_module(zk_node.main, args(path="/a", value="x", value_b64="eA=="), capsys)
    assert failed
    assert "mutually exclusive" in result["msg"]


def test_username_needs_password(no_connect: None, capsys) -> None:
    failed, result = run_module(zk_node.main, args(path="/a", auth_username="u"), capsys)
    assert failed
    assert "auth_username" in result["msg"] and "auth_password" in result["msg"]


def test_secrets_are_no_log() -> None:
    spec = zk_node.argument_spec()
    assert spec["auth_password"]["no_log"] is True
    assert spec["keyfile_password"]["no_log"] is True
    assert spec["acl"]["options"]["password"]["no_log"] is True


# --- logic on a fake client ----------------------------------------------------------------------


def test_create_is_one_transaction_with_parents(fake: FakeZk, capsys) -> None:
    failed, result = run_module(zk_node.main, args(path="/a/b/c", value="v", create_parents=True), capsys)
    assert not failed and result["changed"]
    assert result["created"] == ["/a", "/a/b", "/a/b/c"]
    assert len(fake.transactions) == 1
    assert [op[1] for op in fake.transactions[0]] == ["/a", "/a/b", "/a/b/c"]
    assert fake.nodes["/a/b/c"]["data"] == b"v"
    assert result["value"] == "v" and result["acl"] == OPEN


def test_missing_parent_without_create_parents(fake: FakeZk, capsys) -> None:
    failed, result = run_module(zk_node.main, args(path="/a/b", value="v"), capsys)
    assert failed
    assert "parent /a of /a/b does not exist" in result["msg"]
    assert fake.transactions == [] and "/a/b" not in fake.nodes


def test_same_bytes_is_not_changed(fake: FakeZk, capsys) -> None:
    # community.general's znode compared str with bytes and reported changed every run
    fake.nodes["/a"] = {"data": "é".encode(), "acl": OPEN, "version": 3}
    failed, result = run_module(zk_node.main, args(path="/a", value="é"), capsys)
    assert not failed and not result["changed"]
    assert fake.writes == []
    binary = base64.b64encode(b"\x00\xff").decode()
    fake.nodes["/b"] = {"data": b"\x00\xff", "acl": OPEN, "version": 0}
    failed, result = run_module(zk_node.main, args(path="/b", value_b64=binary), capsys)
    assert not failed and not result["changed"]
    assert result["value"] is None and result["value_b64"] == binary


def test_update_is_version_guarded_and_reports_diff(fake: FakeZk, capsys) -> None:
    fake.nodes["/a"] = {"data": b"old", "acl": OPEN, "version": 7, "aversion": 2}
    acl = [{"scheme": "world", "perms": "r"}]
    failed, result = run_module(zk_node.main, args(path="/a", value="new", acl=acl, _ansible_diff=True), capsys)
    assert not failed and result["changed"]
    assert fake.writes == [
        ("set", "/a", b"new", 7),
        ("set_acls", "/a", [{"scheme": "world", "id": "anyone", "perms": "r"}], 2),
    ]
    assert result["diff"]["before"] == {"path": "/a", "state": "present", "acl": OPEN, "value": "old"}
    assert result["diff"]["after"]["value"] == "new"
    assert result["diff"]["after"]["acl"] == [{"scheme": "world", "id": "anyone", "perms": "r"}]


def test_acl_order_does_not_matter(fake: FakeZk, capsys) -> None:
    current = _zk.normalize_acl([{"scheme": "world", "perms": "r"}, {"scheme": "ip", "id": "10.0.0.1", "perms": "all"}])
    fake.nodes["/a"] = {"data": b"", "acl": current}
    acl = [{"scheme": "ip", "id": "10.0.0.1", "perms": "adcwr"}, {"scheme": "world", "perms": "r"}]
    failed, result = run_module(zk_node.main, args(path="/a", acl=acl), capsys)
    assert not failed and not result["changed"]
    assert fake.writes == []


def test_check_mode_writes_nothing(fake: FakeZk, capsys) -> None:
    fake.nodes["/a"] = {"data": b"old", "acl": OPEN}
    failed, result = run_module(
        zk_node.main, args(path="/a", value="new", _ansible_check_mode=True, _ansible_diff=True), capsys
    )
    assert not failed and result["changed"]
    assert result["value"] == "new"
    assert result["diff"]["before"]["value"] == "old" and result["diff"]["after"]["value"] == "new"
    failed, result = run_module(
        zk_node.main, args(path="/x/y", value="v", create_parents=True, _ansible_check_mode=True), capsys
    )
    assert not failed and result["changed"] and result["created"] == ["/x", "/x/y"]
    failed, result = run_module(zk_node.main, args(path="/a", state="absent", _ansible_check_mode=True), capsys)
    assert not failed and result["changed"]
    assert fake.writes == [] and fake.transactions == []
    assert fake.nodes["/a"]["data"] == b"old"


def test_absent_needs_recursive_for_children(fake: FakeZk, capsys) -> None:
    fake.nodes.update({"/a": {"data": b"", "acl": OPEN}, "/a/b": {"data": b"", "acl": OPEN}})
    failed, result = run_module(zk_node.main, args(path="/a", state="absent"), capsys)
    assert failed and "set recursive: true" in result["msg"]
    assert "/a/b" in fake.nodes
    failed, result = run_module(zk_node.main, args(path="/a", state="absent", recursive=True), capsys)
    assert not failed and result["changed"]
    assert result["deleted"] == ["/a/b", "/a"]
    assert len(fake.transactions) == 1
    assert "/a" not in fake.nodes
    failed, result = run_module(zk_node.main, args(path="/a", state="absent", recursive=True), capsys)
    assert not failed and not result["changed"]


def test_recursive_delete_batches_deepest_first(fake: FakeZk, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zk_node, "MULTI_BATCH", 2)
    for path in ("/t", "/t/a", "/t/a/x", "/t/b"):
        fake.nodes[path] = {"data": b"", "acl": OPEN, "version": 0}
    failed, result = run_module(zk_node.main, args(path="/t", state="absent", recursive=True), capsys)
    assert not failed
    deleted = result["deleted"]
    assert deleted[0] == "/t/a/x" and deleted[-1] == "/t"
    assert len(fake.transactions) == 2
    assert set(fake.nodes) == {"/"}


def test_value_fitting_but_request_too_large(fake: FakeZk, capsys) -> None:
    limit = 1000
    failed, result = run_module(zk_node.main, args(path="/big", value="x" * limit, max_value_size=limit), capsys)
    assert failed
    assert "value: the request would be" in result["msg"] and "nothing was written" in result["msg"]
    assert "/big" not in fake.nodes and fake.transactions == []
    fake.nodes["/big"] = {"data": b"", "acl": OPEN}
    failed, result = run_module(zk_node.main, args(path="/big", value="x" * limit, max_value_size=limit), capsys)
    assert failed and "value: the request would be" in result["msg"]
    assert fake.writes == []
