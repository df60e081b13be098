"""zk_node against the real loopback ensemble, run through ansible-playbook; verified on the server with kazoo."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

import pytest
from ansible_collections.orchestrator.platform.tests.fixtures.zk_ensemble import ZkEnsemble
from ansible_collections.orchestrator.platform.tests.support.ansible_run import run_playbook
from ansible_collections.orchestrator.platform.tests.support.ports import free_port
from ansible_collections.orchestrator.platform.tests.support.zk_client import delete_recursive, kazoo_client
from kazoo.client import KazooClient
from kazoo.security import make_digest_acl_credential

ADMIN, ADMIN_PW = "it-admin", "it-admin-pw"
ADMIN_ACL = {"scheme": "digest", "username": ADMIN, "password": ADMIN_PW, "perms": "rwcda"}
ADMIN_ID = make_digest_acl_credential(ADMIN, ADMIN_PW)
OPEN = [{"scheme": "world", "id": "anyone", "perms": "cdrwa"}]


@pytest.fixture
def admin(zk_ensemble: ZkEnsemble) -> Iterator[KazooClient]:
    """A kazoo client authenticated as the test admin (ACLs in these tests always grant it all)."""
    with kazoo_client(zk_ensemble.connect_string, auth=(ADMIN, ADMIN_PW)) as client:
        yield client


@pytest.fixture
def base(admin: KazooClient) -> Iterator[str]:
    """A fresh path prefix for one test; everything under it is removed afterwards."""
    path = f"/it-{uuid.uuid4().hex[:10]}"
    yield path
    delete_recursive(admin, path)


@pytest.fixture
def zk_node(zk_ensemble: ZkEnsemble):
    def run(check: bool = False, diff: bool = False, verbosity: int = 0, **options: object) -> dict:
        extra = {"zk_hosts": zk_ensemble.connect_string}
        extra.update({f"zk_{k}": v for k, v in options.items()})
        return run_playbook("zk_node.yml", extra, check=check, diff=diff, verbosity=verbosity)

    return run


def acl_on_server(client: KazooClient, path: str) -> list[tuple[str, str, int]]:
    return sorted((a.id.scheme, a.id.id, a.perms) for a in client.get_acls(path)[0])


def test_create_rerun_and_absent(zk_node, admin: KazooClient, base: str) -> None:
    path = f"{base}/node"
    admin.create(base)
    first = zk_node(path=path, value="hello")
    assert first["changed"] is True and not first.get("failed")
    assert first["created"] == [path]
    data, stat = admin.get(path)
    assert data == b"hello"
    assert first["stat"]["version"] == stat.version == 0
    assert first["acl"] == OPEN
    assert acl_on_server(admin, path) == [("world", "anyone", 31)]

    again = zk_node(path=path, value="hello")
    assert again["changed"] is False
    assert admin.get(path)[1].mzxid == stat.mzxid  # nothing written

    gone = zk_node(path=path, state="absent")
    assert gone["changed"] is True and gone["deleted"] == [path]
    assert admin.exists(path) is None
    assert zk_node(path=path, state="absent")["changed"] is False


def test_check_mode_changes_nothing(zk_node, admin: KazooClient, base: str) -> None:
    path = f"{base}/node"
    admin.create(base)
    created = zk_node(path=path, value="v1", check=True)
    assert created["changed"] is True
    assert admin.exists(path) is None

    admin.create(path, b"v1")
    mzxid = admin.get(path)[1].mzxid
    updated = zk_node(path=path, value="v2", acl=[ADMIN_ACL], check=True)
    assert updated["changed"] is True
    assert updated["value"] == "v2"
    data, stat = admin.get(path)
    assert data == b"v1" and stat.mzxid == mzxid and stat.aversion == 0
    assert acl_on_server(admin, path) == [("world", "anyone", 31)]

    deleted = zk_node(path=base, state="absent", recursive=True, check=True)
    assert deleted["changed"] is True and deleted["deleted"] == [path, base]
    assert admin.exists(path) is not None


def test_diff_mode(zk_node, admin: KazooClient, base: str) -> None:
    path = f"{base}/node"
    admin.create(base)
    created = zk_node(path=path, value="one", diff=True)
    assert created["diff"]["before"] == {"path": path, "state": "absent"}
    assert created["diff"]["after"] == {"path": path, "state": "present", "value": "one", "acl": OPEN}
    assert '+    "value": "one"' in created["_stdout"]  # ansible-playbook shows it
    changed = zk_node(path=path, value="two", diff=True)
    assert changed["diff"]["before"]["value"] == "one"
    assert changed["diff"]["after"]["value"] == "two"
    same = zk_node(path=path, value="two", diff=True)
    assert same["changed"] is False
    assert same["diff"]["before"] == same["diff"]["after"]


def test_binary_value_round_trip(zk_node, admin: KazooClient, base: str) -> None:
    path = f"{base}/bin"
    blob = bytes(range(256))
    encoded = base64.b64encode(blob).decode()
    first = zk_node(path=path, value_b64=encoded, create_parents=True)
    assert first["changed"] is True
    assert first["value"] is None and first["value_b64"] == encoded
    assert admin.get(path)[0] == blob
    assert zk_node(path=path, value_b64=encoded)["changed"] is False


def test_non_ascii_text_is_idempotent(zk_node, admin: KazooClient, base: str) -> None:
    path = f"{base}/text"
    admin.create(path, "zürich ✓".encode(), makepath=True)
    result = zk_node(path=path, value="zürich ✓")
    assert result["changed"] is False
    assert result["value"] == "zürich ✓"


def test_existing_value_left_alone_without_value(zk_node, admin: KazooClient, base: str) -> None:
    path = f"{base}/keep"
    admin.create(path, b"keep me", makepath=True)
    assert zk_node(path=path)["changed"] is False
    assert admin.get(path)[0] == b"keep me"


def test_create_parents_in_one_go(zk_node, admin: KazooClient, base: str) -> None:
    path = f"{base}/a/b/c"
    missing = zk_node(path=path, value="x")
    assert missing.get("failed") is True
    assert f"parent {base} of {path} does not exist" in missing["msg"]
    assert admin.exists(base) is None

    acl = [ADMIN_ACL, {"scheme": "world", "perms": "r"}]
    # the parents get the node's ACL, so creating below them needs an identity it lets create
    denied = zk_node(path=path, value="x", create_parents=True, acl=acl)
    assert denied.get("failed") is True
    assert "not authorized" in denied["msg"]
    assert admin.exists(base) is None  # one multi: nothing of it was created

    made = zk_node(path=path, value="x", create_parents=True, acl=acl, auth_username=ADMIN, auth_password=ADMIN_PW)
    assert made["changed"] is True
    assert made["created"] == [base, f"{base}/a", f"{base}/a/b", path]
    for node in made["created"]:
        assert acl_on_server(admin, node) == [("digest", ADMIN_ID, 31), ("world", "anyone", 1)]
    assert admin.get(path)[0] == b"x"
    assert admin.get(base)[0] == b""


def test_acl_round_trip(zk_node, admin: KazooClient, base: str) -> None:
    path = f"{base}/acl"
    admin.create(base)
    acl = [ADMIN_ACL, {"scheme": "ip", "id": "127.0.0.1", "perms": "r"}, {"scheme": "world", "perms": "r"}]
    first = zk_node(path=path, value="x", acl=acl, auth_username=ADMIN, auth_password=ADMIN_PW)
    assert first["changed"] is True
    expected = [("digest", ADMIN_ID, 31), ("ip", "127.0.0.1", 1), ("world", "anyone", 1)]
    assert acl_on_server(admin, path) == expected
    assert first["acl"] == [
        {"scheme": "digest", "id": ADMIN_ID, "perms": "cdrwa"},
        {"scheme": "ip", "id": "127.0.0.1", "perms": "r"},
        {"scheme": "world", "id": "anyone", "perms": "r"},
    ]

    # same ACL in another order, perms letters in another order: no change
    shuffled = [{"scheme": "world", "perms": "r"}, {**ADMIN_ACL, "perms": "adcwr"}, acl[1]]
    again = zk_node(path=path, value="x", acl=shuffled, auth_username=ADMIN, auth_password=ADMIN_PW)
    assert again["changed"] is False
    aversion = admin.get(path)[1].aversion

    # a client without admin permission sees the digest id as "it-admin:x": still not changed
    anonymous = zk_node(path=path, value="x", acl=shuffled)
    assert anonymous["changed"] is False
    assert {"scheme": "digest", "id": f"{ADMIN}:x", "perms": "cdrwa"} in anonymous["acl"]

    # widen the world entry: changed, and only the ACL was written
    wider = [ADMIN_ACL, acl[1], {"scheme": "world", "perms": "rw"}]
    changed = zk_node(path=path, acl=wider, auth_username=ADMIN, auth_password=ADMIN_PW)
    assert changed["changed"] is True
    assert ("world", "anyone", 3) in acl_on_server(admin, path)
    assert admin.get(path)[1].aversion == aversion + 1
    assert admin.get(path)[0] == b"x"


def test_auth_scheme_acl(zk_node, admin: KazooClient, base: str) -> None:
    path = f"{base}/auth"
    admin.create(base)
    options = {"path": path, "value": "x", "auth_username": ADMIN, "auth_password": ADMIN_PW}
    first = zk_node(acl=[{"scheme": "auth", "perms": "all"}], **options)
    assert first["changed"] is True
    assert acl_on_server(admin, path) == [("digest", ADMIN_ID, 31)]
    assert zk_node(acl=[{"scheme": "auth", "perms": "cdrwa"}], **options)["changed"] is False


def test_auth_failure_is_clear_and_writes_nothing(zk_node, admin: KazooClient, base: str) -> None:
    path = f"{base}/locked"
    admin.create(base)
    zk_node(path=path, value="v1", acl=[ADMIN_ACL, {"scheme": "world", "perms": "r"}])
    mzxid = admin.get(path)[1].mzxid

    wrong = zk_node(path=path, value="v2", auth_username=ADMIN, auth_password="wrong-password")
    assert wrong.get("failed") is True
    assert f"not authorized on {path}" in wrong["msg"]
    assert "it-admin" in wrong["msg"]
    anonymous = zk_node(path=path, value="v2")
    assert anonymous.get("failed") is True
    assert "unauthenticated client" in anonymous["msg"]
    assert admin.get(path)[1].mzxid == mzxid
    assert admin.get(path)[0] == b"v1"

    right = zk_node(path=path, value="v2", auth_username=ADMIN, auth_password=ADMIN_PW)
    assert right["changed"] is True
    assert admin.get(path)[0] == b"v2"


def test_secrets_stay_out_of_the_output(zk_node, admin: KazooClient, base: str) -> None:
    secret_acl_pw = "acl-secret-Zq9"
    result = zk_node(
        path=f"{base}/s",
        value="x",
        create_parents=True,
        acl=[{"scheme": "digest", "username": "svc", "password": secret_acl_pw, "perms": "r"}, ADMIN_ACL],
        auth_username=ADMIN,
        auth_password=ADMIN_PW,
        verbosity=3,
    )
    assert result["changed"] is True
    assert ADMIN_PW not in result["_stdout"]
    assert secret_acl_pw not in result["_stdout"]
    # -vvv prints the module's arguments: the secrets are masked there
    assert '"auth_password": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in result["_stdout"]


def test_recursive_absent(zk_node, admin: KazooClient, base: str) -> None:
    for node in ("a/x", "a/y/z", "b"):
        admin.create(f"{base}/{node}", b"1", makepath=True)
    refused = zk_node(path=base, state="absent")
    assert refused.get("failed") is True
    assert "set recursive: true" in refused["msg"]
    assert admin.exists(f"{base}/a/y/z") is not None

    deleted = zk_node(path=base, state="absent", recursive=True)
    assert deleted["changed"] is True
    assert deleted["deleted"][-1] == base
    assert set(deleted["deleted"]) == {base, f"{base}/a", f"{base}/a/x", f"{base}/a/y", f"{base}/a/y/z", f"{base}/b"}
    assert admin.exists(base) is None
    assert zk_node(path=base, state="absent", recursive=True)["changed"] is False


@pytest.mark.parametrize("path", ["/", "/zookeeper", "/zookeeper/quota"])
def test_refuses_to_delete_zookeepers_own_nodes(zk_node, admin: KazooClient, path: str) -> None:
    result = zk_node(path=path, state="absent", recursive=True)
    assert result.get("failed") is True
    assert f"refusing to delete '{path}'" in result["msg"]
    assert admin.exists("/zookeeper") is not None
    assert admin.exists("/zookeeper/quota") is not None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"value": "x" * 1048576}, "value: 1048576 bytes exceed max_value_size 1048575"),
        ({"value": "x" * 1048570}, "value: the request would be"),
        ({"value": "x", "acl": [{"scheme": "world", "perms": "rwz"}]}, "acl[0].perms: invalid permission 'z'"),
        ({"value": "x", "acl": [{"scheme": "ip", "id": "somewhere", "perms": "r"}]}, "acl[0].id: 'somewhere'"),
    ],
    ids=["over-1MB", "request-over-jute-maxbuffer", "bad-perms", "bad-ip"],
)
def test_bad_input_writes_nothing(zk_node, admin: KazooClient, base: str, options: dict, message: str) -> None:
    path = f"{base}/bad"
    result = zk_node(path=path, create_parents=True, **options)
    assert result.get("failed") is True
    assert message in result["msg"]
    assert admin.exists(base) is None


def test_relative_path_is_refused(zk_node, admin: KazooClient) -> None:
    name = f"it-rel-{uuid.uuid4().hex[:8]}"
    result = zk_node(path=name, value="x")
    assert result.get("failed") is True
    assert f"path: '{name}' must start with '/'" in result["msg"]
    assert admin.exists(f"/{name}") is None


def test_big_value_within_the_limit(zk_node, admin: KazooClient, base: str) -> None:
    value = "y" * 1_000_000
    result = zk_node(path=f"{base}/big", value=value, create_parents=True)
    assert result["changed"] is True
    assert admin.get(f"{base}/big")[0] == value.encode()
    assert zk_node(path=f"{base}/big", value=value)["changed"] is False


def test_unreachable_ensemble_fails_clearly() -> None:
    port = free_port()
    result = run_playbook(
        "zk_node.yml", {"zk_hosts": f"127.0.0.1:{port}", "zk_path": "/x", "zk_value": "x", "zk_timeout": 2}
    )
    assert result.get("failed") is True
    assert "cannot connect to ZooKeeper at 127.0.0.1:" in result["msg"]
