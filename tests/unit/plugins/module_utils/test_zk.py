"""Unit tests of plugins/module_utils/_zk.py: 4lw parsing, ensemble health, ACLs, paths, values."""

from __future__ import annotations

import base64
from typing import ClassVar

import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk
from ansible_collections.orchestrator.platform.tests.unit.plugins.helpers import (
    FOLLOWER,
    LEADER,
    NOT_SERVING,
    STANDALONE,
    captured,
    unused_port,
)

# --- hosts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        ("zk1:2181,zk2:2182", [("zk1", 2181), ("zk2", 2182)]),
        ("zk1", [("zk1", 2181)]),
        (" zk1:1 , zk2 ", [("zk1", 1), ("zk2", 2181)]),
        ("zk1:2181,zk2:2181/mesos", [("zk1", 2181), ("zk2", 2181)]),
        ("[::1]:2181,[fe80::1]", [("::1", 2181), ("fe80::1", 2181)]),
        ("10.0.0.1:2181,", [("10.0.0.1", 2181)]),
    ],
)
def test_split_hosts(hosts: str, expected: list[tuple[str, int]]) -> None:
    assert _zk.split_hosts(hosts) == expected


@pytest.mark.parametrize("hosts", ["", "  ", ",", "zk1:abc", "zk1:0", "zk1:70000", "a:b:c", "/chroot"])
def test_split_hosts_rejects(hosts: str) -> None:
    with pytest.raises(_zk.ZkError, match=r"^hosts: "):
        _zk.split_hosts(hosts)


def test_format_hostport() -> None:
    assert _zk.format_hostport("zk1", 2181) == "zk1:2181"
    assert _zk.format_hostport("::1", 2181) == "[::1]:2181"


# --- srvr / mntr parsing on real captured answers -------------------------------------------


def test_parse_srvr_leader() -> None:
    srvr = _zk.parse_srvr(captured("srvr_leader.txt"))
    assert srvr["serving"] is True
    assert srvr["mode"] == "leader"
    assert srvr["zxid"] == 0x100000009
    assert srvr["version"].startswith("3.8.0")
    assert (srvr["latency_min"], srvr["latency_avg"], srvr["latency_max"]) == (0, 0.0, 0)
    assert srvr["node_count"] == 7
    assert srvr["connections"] == 1
    assert srvr["outstanding"] == 0


def test_parse_srvr_follower() -> None:
    srvr = _zk.parse_srvr(captured("srvr_follower.txt"))
    assert srvr["mode"] == "follower"
    assert srvr["serving"] is True
    assert isinstance(srvr["zxid"], int)


def test_parse_srvr_standalone() -> None:
    assert _zk.parse_srvr(captured("srvr_standalone.txt"))["mode"] == "standalone"


def test_parse_srvr_not_serving_even_though_ruok_says_imok() -> None:
    assert captured("ruok_not_serving.txt") == "imok"
    srvr = _zk.parse_srvr(captured("srvr_not_serving.txt"))
    assert srvr == {"serving": False, "whitelisted": True, "mode": None}


def test_parse_srvr_not_whitelisted() -> None:
    text = captured("mntr_not_whitelisted.txt").replace("mntr", "srvr")
    assert _zk.parse_srvr(text) == {"serving": False, "whitelisted": False, "mode": None}


def test_parse_mntr_leader_and_follower() -> None:
    leader = _zk.parse_mntr(captured("mntr_leader.txt"))
    assert leader["serving"] is True
    assert leader["zk_server_state"] == "leader"
    assert leader["zk_synced_followers"] == 2
    assert leader["zk_learners"] == 2
    assert leader["zk_quorum_size"] == 3
    assert isinstance(leader["zk_avg_latency"], float)
    assert leader["zk_version"].startswith("3.8.0")
    follower = _zk.parse_mntr(captured("mntr_follower.txt"))
    assert follower["zk_server_state"] == "follower"
    assert "zk_synced_followers" not in follower


def test_parse_mntr_not_serving_and_not_whitelisted() -> None:
    assert _zk.parse_mntr(captured("mntr_not_serving.txt")) == {"serving": False, "whitelisted": True}
    assert _zk.parse_mntr(captured("mntr_not_whitelisted.txt")) == {"serving": False, "whitelisted": False}


# --- server_status / ensemble_status against canned servers ---------------------------------


def test_server_status_leader(fourlw) -> None:
    srv = fourlw(LEADER)
    status = _zk.server_status("127.0.0.1", srv.port, 2)
    assert set(status) >= set(_zk.SERVER_KEYS)
    assert status["mode"] == "leader"
    assert status["reachable"] and status["serving"]
    assert status["followers"] == 2 and status["synced_followers"] == 2
    assert status["znode_count"] == 7
    assert status["error"] is None
    assert srv.seen == ["srvr", "mntr"]
    assert "ruok" not in srv.seen


def test_server_status_follower_asks_only_srvr(fourlw) -> None:
    srv = fourlw(FOLLOWER)
    status = _zk.server_status("127.0.0.1", srv.port, 2)
    assert status["mode"] == "follower"
    assert status["followers"] is None and status["synced_followers"] is None
    assert srv.seen == ["srvr"]


def test_server_status_unreachable() -> None:
    status = _zk.server_status("127.0.0.1", unused_port(), 2)
    assert status["reachable"] is False
    assert status["serving"] is False
    assert status["mode"] is None and status["zxid"] is None
    assert "cannot reach" in status["error"]


def test_server_status_not_serving(fourlw) -> None:
    srv = fourlw(NOT_SERVING)
    status = _zk.server_status("127.0.0.1", srv.port, 2)
    assert status["reachable"] is True
    assert status["serving"] is False
    assert status["mode"] is None
    assert "not currently serving" in status["error"]


def test_server_status_srvr_not_whitelisted(fourlw) -> None:
    srv = fourlw({})
    srv.answers["srvr"] = captured("mntr_not_whitelisted.txt").replace("mntr", "srvr")
    status = _zk.server_status("127.0.0.1", srv.port, 2)
    assert status["reachable"] is True and status["serving"] is False
    assert "whitelist" in status["error"]


def test_server_status_empty_answer(fourlw) -> None:
    srv = fourlw({})
    status = _zk.server_status("127.0.0.1", srv.port, 2)
    assert status["reachable"] is True and status["serving"] is False
    assert "empty answer" in status["error"]


def test_ensemble_healthy(fourlw) -> None:
    servers = [fourlw(FOLLOWER), fourlw(LEADER), fourlw(FOLLOWER)]
    status = _zk.ensemble_status(",".join(s.hostport for s in servers), 2)
    assert [s["mode"] for s in status["servers"]] == ["follower", "leader", "follower"]
    assert status["leader"] == servers[1].hostport
    assert status["quorum_size"] == 3
    assert status["serving_count"] == 3
    assert status["quorum_healthy"] is True
    assert status["problems"] == []
    assert all("_quorum_size" not in s for s in status["servers"])


def test_ensemble_one_follower_down_is_still_healthy(fourlw) -> None:
    servers = [fourlw(LEADER).hostport, fourlw(FOLLOWER).hostport, f"127.0.0.1:{unused_port()}"]
    status = _zk.ensemble_status(",".join(servers), 2)
    assert status["servers"][2]["reachable"] is False
    assert status["serving_count"] == 2
    assert status["quorum_healthy"] is True


def test_ensemble_without_quorum(fourlw) -> None:
    servers = [f"127.0.0.1:{unused_port()}", fourlw(NOT_SERVING).hostport, f"127.0.0.1:{unused_port()}"]
    status = _zk.ensemble_status(",".join(servers), 2)
    assert status["leader"] is None
    assert status["quorum_size"] == 3
    assert status["serving_count"] == 0
    assert status["quorum_healthy"] is False
    assert status["servers"][1]["reachable"] is True
    assert status["servers"][1]["serving"] is False


def test_ensemble_leader_without_majority_is_unhealthy(fourlw) -> None:
    # The leader's own view says 3 voters; only 1 of 5 given serves (a leader that has not yet
    # noticed it lost its followers still must not count as a quorum).
    hosts = [fourlw(LEADER).hostport] + [f"127.0.0.1:{unused_port()}" for _index in range(2)]
    status = _zk.ensemble_status(",".join(hosts), 2)
    assert status["leader"] == hosts[0]
    assert status["quorum_healthy"] is False


def test_ensemble_two_leaders_is_unhealthy(fourlw) -> None:
    hosts = [fourlw(LEADER).hostport, fourlw(LEADER).hostport, fourlw(FOLLOWER).hostport]
    status = _zk.ensemble_status(",".join(hosts), 2)
    assert status["leader"] is None
    assert status["quorum_healthy"] is False
    assert "more than one server" in status["problems"][0]


def test_ensemble_standalone_alone_is_healthy(fourlw) -> None:
    srv = fourlw(STANDALONE)
    status = _zk.ensemble_status(srv.hostport, 2)
    assert status["leader"] == srv.hostport
    assert status["quorum_size"] == 1
    assert status["quorum_healthy"] is True


def test_ensemble_standalone_among_several_is_a_problem(fourlw) -> None:
    hosts = [fourlw(STANDALONE).hostport, fourlw(LEADER).hostport, fourlw(FOLLOWER).hostport]
    status = _zk.ensemble_status(",".join(hosts), 2)
    assert status["quorum_healthy"] is False
    assert "standalone" in status["problems"][0]


# --- ACLs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("perms", "mask"),
    [("r", 1), ("rw", 3), ("rwcda", 31), ("cdrwa", 31), ("adcwr", 31), ("all", 31), ("ALL", 31), ("rr", 1), (5, 5)],
)
def test_parse_perms(perms: str | int, mask: int) -> None:
    assert _zk.parse_perms(perms) == mask


@pytest.mark.parametrize("perms", ["", "x", "rwx", "read", None, 0, 32, True, " "])
def test_parse_perms_rejects(perms: object) -> None:
    with pytest.raises(_zk.ZkError, match=r"^acl\[0\]\.perms: "):
        _zk.parse_perms(perms, "acl[0].perms")


def test_format_perms_uses_zkcli_order() -> None:
    assert _zk.format_perms(31) == "cdrwa"
    assert _zk.format_perms(_zk.parse_perms("ar")) == "ra"


def test_digest_credential_matches_kazoo() -> None:
    security = pytest.importorskip("kazoo.security")
    assert _zk.digest_credential("u", "p") == security.make_digest_acl_credential("u", "p")
    assert _zk.digest_credential("mesos", "s3cret:x") == security.make_digest_acl_credential("mesos", "s3cret:x")


def test_normalize_acl_sorts_merges_and_hashes() -> None:
    acl = _zk.normalize_acl(
        [
            {"scheme": "world", "perms": "r"},
            {"scheme": "digest", "username": "u", "password": "p", "perms": "rwcda"},
            {"scheme": "ip", "id": "10.0.0.0/8", "perms": "r"},
            {"scheme": "ip", "id": "10.0.0.0/8", "perms": "w"},
        ]
    )
    assert acl == [
        {"scheme": "digest", "id": _zk.digest_credential("u", "p"), "perms": "cdrwa"},
        {"scheme": "ip", "id": "10.0.0.0/8", "perms": "rw"},
        {"scheme": "world", "id": "anyone", "perms": "r"},
    ]


def test_normalize_acl_auth_expands_to_identities() -> None:
    ids = _zk.auth_identities("digest", "admin", "pw")
    assert ids == [("digest", _zk.digest_credential("admin", "pw"))]
    acl = _zk.normalize_acl([{"scheme": "auth", "perms": "all"}], ids)
    assert acl == [{"scheme": "digest", "id": _zk.digest_credential("admin", "pw"), "perms": "cdrwa"}]
    assert _zk.auth_identities("sasl", "zkclient", "pw") == [("sasl", "zkclient")]
    assert _zk.auth_identities("digest", None, None) == []


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([], r"^acl: must be a non-empty list"),
        (["world:anyone:r"], r"^acl\[0\]: expected a dict"),
        ([{"scheme": "kerberos", "id": "x", "perms": "r"}], r"^acl\[0\]\.scheme: "),
        ([{"scheme": "world", "id": "someone", "perms": "r"}], r"^acl\[0\]\.id: the world scheme"),
        ([{"scheme": "world", "perms": "r"}, {"scheme": "digest", "id": "nocolon", "perms": "r"}], r"^acl\[1\]\.id: "),
        ([{"scheme": "digest", "perms": "r"}], r"^acl\[0\]\.id: required"),
        ([{"scheme": "digest", "username": "u", "perms": "r"}], r"^acl\[0\]\.password: "),
        (
            [{"scheme": "digest", "username": "u", "password": "p", "id": "u:h", "perms": "r"}],
            r"^acl\[0\]: give either",
        ),
        ([{"scheme": "ip", "id": "not-an-ip", "perms": "r"}], r"^acl\[0\]\.id: "),
        ([{"scheme": "auth", "perms": "r"}], r"^acl\[0\]: the auth scheme"),
        ([{"scheme": "sasl", "perms": "r"}], r"^acl\[0\]\.id: required"),
        ([{"scheme": "world", "perms": "rwz"}], r"^acl\[0\]\.perms: invalid permission 'z'"),
    ],
)
def test_normalize_acl_rejects(entries: list, message: str) -> None:
    with pytest.raises(_zk.ZkError, match=message):
        _zk.normalize_acl(entries)


def test_acl_equal_ignores_order() -> None:
    a = _zk.normalize_acl([{"scheme": "world", "perms": "r"}, {"scheme": "ip", "id": "1.2.3.4", "perms": "all"}])
    b = list(reversed(a))
    assert _zk.acl_equal(a, b)
    assert not _zk.acl_equal(a, a[:1])
    assert not _zk.acl_equal(a, [{**a[0], "perms": "rw"}, a[1]])


def test_acl_equal_with_redacted_digest() -> None:
    desired = _zk.normalize_acl([{"scheme": "digest", "username": "u", "password": "p", "perms": "all"}])
    redacted = [{"scheme": "digest", "id": "u:x", "perms": "cdrwa"}]
    assert _zk.acl_equal(desired, redacted)
    assert not _zk.acl_equal(desired, [{"scheme": "digest", "id": "v:x", "perms": "cdrwa"}])
    assert not _zk.acl_equal(desired, [{"scheme": "digest", "id": "u:x", "perms": "r"}])
    # without redaction the hash counts
    assert not _zk.acl_equal(desired, [{"scheme": "digest", "id": "u:otherhash", "perms": "cdrwa"}])


def test_acl_kazoo_round_trip() -> None:
    pytest.importorskip("kazoo")
    acl = _zk.normalize_acl([{"scheme": "world", "perms": "r"}, {"scheme": "ip", "id": "1.2.3.4", "perms": "rw"}])
    assert _zk.acl_from_kazoo(_zk.acl_to_kazoo(acl)) == acl


# --- paths and values -------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/a", "/a/b-c/d.e", "/zookeeper", "/mesos/json.info_0000000001"])
def test_validate_path_accepts(path: str) -> None:
    assert _zk.validate_path(path) == path


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("a/b", "must start with '/'"),
        ("", "required"),
        (None, "required"),
        ("/a/", "must not end with '/'"),
        ("/a//b", "empty"),
        ("/a/./b", "'.'"),
        ("/a/../b", "'..'"),
        ("/a\x00b", "NUL"),
    ],
)
def test_validate_path_rejects(path: object, message: str) -> None:
    with pytest.raises(_zk.ZkError, match=r"^path: .*" + message.replace(".", r"\.")):
        _zk.validate_path(path)


def test_protected_paths() -> None:
    assert _zk.is_protected("/")
    assert _zk.is_protected("/zookeeper")
    assert _zk.is_protected("/zookeeper/quota")
    assert not _zk.is_protected("/zookeeperish")
    assert not _zk.is_protected("/mesos")


def test_parent_paths() -> None:
    assert _zk.parent_paths("/a/b/c") == ["/a", "/a/b"]
    assert _zk.parent_paths("/a") == []


def test_value_to_bytes() -> None:
    assert _zk.value_to_bytes("héllo", None) == "héllo".encode()
    assert _zk.value_to_bytes(None, base64.b64encode(b"\x00\xff").decode()) == b"\x00\xff"
    assert _zk.value_to_bytes(None, None) is None
    assert _zk.value_to_bytes("", None) == b""
    with pytest.raises(_zk.ZkError, match=r"^value_b64: not valid base64"):
        _zk.value_to_bytes(None, "not base64!")
    with pytest.raises(_zk.ZkError, match="mutually exclusive"):
        _zk.value_to_bytes("a", "YQ==")


def test_describe_value() -> None:
    assert _zk.describe_value(b"abc") == {"value": "abc", "value_b64": "YWJj"}
    assert _zk.describe_value(b"\xff") == {"value": None, "value_b64": "/w=="}
    assert _zk.describe_value(None) == {"value": None, "value_b64": None}


# --- client options ---------------------------------------------------------------------------


def _params(**kw: object) -> dict:
    params = {
        "hosts": "zk1:2181",
        "timeout": 5.0,
        "auth_scheme": "digest",
        "auth_username": None,
        "auth_password": None,
        "sasl_mechanism": "DIGEST-MD5",
        "sasl_service": "zookeeper",
        "use_ssl": False,
        "ca": None,
        "certfile": None,
        "keyfile": None,
        "keyfile_password": None,
        "verify_certs": True,
    }
    params.update(kw)
    return params


def test_argument_spec_matches_client_kwargs() -> None:
    spec = _zk.zookeeper_argument_spec()
    assert set(spec) == set(_params())
    assert spec["auth_password"]["no_log"] is True
    assert spec["keyfile_password"]["no_log"] is True
    assert set(_zk.zookeeper_argument_spec(client=False)) == {"hosts", "timeout"}


def test_client_kwargs_anonymous() -> None:
    kwargs = _zk.client_kwargs(_params())
    assert kwargs["hosts"] == "zk1:2181"
    assert kwargs["timeout"] == 5.0
    assert "auth_data" not in kwargs and "sasl_options" not in kwargs and "use_ssl" not in kwargs


def test_client_kwargs_digest_sasl_tls() -> None:
    assert _zk.client_kwargs(_params(auth_username="u", auth_password="p"))["auth_data"] == [("digest", "u:p")]
    sasl = _zk.client_kwargs(_params(auth_scheme="sasl", auth_username="u", auth_password="p"))["sasl_options"]
    assert sasl == {"mechanism": "DIGEST-MD5", "service": "zookeeper", "username": "u", "password": "p"}
    tls = _zk.client_kwargs(
        _params(use_ssl=True, ca="/ca.pem", certfile="/c.pem", keyfile="/k.pem", verify_certs=False)
    )
    assert tls["use_ssl"] is True
    assert (tls["ca"], tls["certfile"], tls["keyfile"], tls["verify_certs"]) == ("/ca.pem", "/c.pem", "/k.pem", False)


def test_explain_kazoo_errors() -> None:
    exceptions = pytest.importorskip("kazoo.exceptions")
    assert "not authorized on /x" in _zk.explain(exceptions.NoAuthError(), "/x", {"auth_username": None})
    assert "user 'bob'" in _zk.explain(exceptions.NoAuthError(), "/x", {"auth_username": "bob"})
    assert "recursive: true" in _zk.explain(exceptions.NotEmptyError(), "/x")
    assert "changed by someone else" in _zk.explain(exceptions.BadVersionError(), "/x")
    assert _zk.explain(ValueError("boom"), "/x") == "ValueError on /x: boom"


def test_request_sizes_match_what_the_server_measured() -> None:
    """Measured on ZooKeeper 3.8 with jute.maxbuffer 1048575: 1048507 bytes at /b1 pass, one more not."""
    security = pytest.importorskip("kazoo.security")
    assert _zk.multi_create_size([("/b1", b"x" * 1048507, security.OPEN_ACL_UNSAFE)]) == 1048575
    assert _zk.set_data_size("/s", b"y" * 1048553) == 1048575


# --- connect ---------------------------------------------------------------------------------


class _FakeKazoo:
    """Records the keyword arguments and what happens to the client; fails start() when told."""

    made: ClassVar[list[_FakeKazoo]] = []
    fail: ClassVar[BaseException | None] = None

    def __init__(self, **kwargs: object) -> None:
        self.kwargs = kwargs
        self.calls: list[str] = []
        _FakeKazoo.made.append(self)

    def start(self, timeout: float) -> None:
        self.calls.append(f"start {timeout}")
        if _FakeKazoo.fail is not None:
            raise _FakeKazoo.fail

    def stop(self) -> None:
        self.calls.append("stop")

    def close(self) -> None:
        self.calls.append("close")


@pytest.fixture
def fake_kazoo(monkeypatch: pytest.MonkeyPatch) -> type[_FakeKazoo]:
    pytest.importorskip("kazoo")
    monkeypatch.setattr(_zk, "KazooClient", _FakeKazoo)
    _FakeKazoo.made = []
    _FakeKazoo.fail = None
    return _FakeKazoo


def test_connect_gives_up_after_two_tries_unless_told(fake_kazoo: type[_FakeKazoo]) -> None:
    params = {"hosts": "zk1:2181", "timeout": 3.0}
    client = _zk.connect(params)
    assert client.kwargs["connection_retry"] == {"max_tries": 2, "delay": 0.2, "max_delay": 1.0}
    assert client.kwargs["command_retry"] == {"max_tries": 2, "delay": 0.2, "max_delay": 1.0}
    assert client.calls == ["start 3.0"]
    forever = {"max_tries": -1, "delay": 0.1, "max_delay": 2.0}
    client = _zk.connect(params, connection_retry=forever)
    assert client.kwargs["connection_retry"] == forever
    assert client.kwargs["command_retry"] == {"max_tries": 2, "delay": 0.2, "max_delay": 1.0}


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ("timeout", r"^cannot connect to ZooKeeper at zk1:2181 within 3.0s"),
        ("auth", r"^authentication as 'bob' failed"),
    ],
)
def test_connect_failure_stops_the_retrying_client(fake_kazoo: type[_FakeKazoo], error: str, message: str) -> None:
    exceptions = pytest.importorskip("kazoo.exceptions")
    threading_handler = pytest.importorskip("kazoo.handlers.threading")
    fake_kazoo.fail = (
        threading_handler.KazooTimeoutError("Connection time-out")
        if error == "timeout"
        else exceptions.AuthFailedError()
    )
    params = {"hosts": "zk1:2181", "timeout": 3.0, "auth_username": "bob", "auth_password": "pw"}
    with pytest.raises(_zk.ZkError, match=message):
        _zk.connect(params, connection_retry={"max_tries": -1})
    assert fake_kazoo.made[-1].calls == ["start 3.0", "stop", "close"]
