"""_http: the collection's one HTTP client (the Mesos and Marathon clients are built on it)."""

from __future__ import annotations

import ast
import base64
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils import _http, _marathon, _mesos
from ansible_collections.orchestrator.platform.tests.unit.plugins.helpers import imported_after, unused_port
from ansible_collections.orchestrator.platform.tests.unit.plugins.marathon_canned import FakeMarathon, fake_marathons


@pytest.fixture
def fake() -> Iterator[Callable[..., FakeMarathon]]:
    with fake_marathons() as make:
        yield make


def client(**kw: object) -> _http.HttpClient:
    return _http.HttpClient({"timeout": 3.0, "validate_certs": True, **kw}, sleep=lambda _s: None)


def test_one_client_shared() -> None:
    assert issubclass(_mesos.MesosClient, _http.HttpClient)
    assert issubclass(_marathon.MarathonClient, _http.HttpClient)
    assert issubclass(_mesos.MesosError, _http.HttpError) and issubclass(_marathon.MarathonError, _http.HttpError)
    assert _mesos.Response is _http.Response


def test_json_basic_auth_and_call_count(fake: Callable[..., FakeMarathon]) -> None:
    srv = fake({("POST", "/x"): (200, {}, {"ok": True})})
    c = client(url_username="ops", url_password="s3cret")
    assert c.exchange("POST", srv.base + "/x", {"b": 1}).json() == {"ok": True}
    req = srv.requests[0]
    assert req["headers"]["authorization"] == "Basic " + base64.b64encode(b"ops:s3cret").decode()
    assert req["headers"]["content-type"] == "application/json" and req["body"] == b'{"b": 1}'
    assert c.calls == 1


def test_errors_are_the_subclass_error(fake: Callable[..., FakeMarathon]) -> None:
    srv = fake({("GET", "/x"): (200, {}, b"not json")})
    c = _marathon.MarathonClient({"timeout": 3.0}, [srv.base])
    with pytest.raises(_marathon.MarathonError, match="not JSON"):
        c.exchange("GET", srv.base + "/x").json()
    with pytest.raises(_marathon.MarathonError, match="cannot reach"):
        c.exchange("GET", f"http://127.0.0.1:{unused_port()}/x")


def test_redirects_relative_and_loops(fake: Callable[..., FakeMarathon]) -> None:
    srv = fake(
        {
            ("GET", "/a"): (302, {"Location": "/b"}, None),
            ("GET", "/b"): (200, {}, {"here": 1}),
            ("GET", "/loop"): (307, {"Location": "/loop2"}, None),
            ("GET", "/loop2"): (307, {"Location": "/loop"}, None),
            ("PUT", "/a"): (302, {"Location": "/b"}, None),
        }
    )
    c = client()
    assert c.follow("GET", srv.base + "/a").json() == {"here": 1}
    with pytest.raises(_http.HttpError, match="redirect loop"):
        c.follow("GET", srv.base + "/loop")
    # A write is never turned into a GET.
    with pytest.raises(_http.HttpError, match="only 307/308 may carry a write"):
        c.follow("PUT", srv.base + "/a", {"x": 1})


def test_first_answer_lists_every_url(fake: Callable[..., FakeMarathon]) -> None:
    busy = fake({("GET", "/x"): (503, {}, b"starting")})
    dead = f"http://127.0.0.1:{unused_port()}"
    with pytest.raises(_http.HttpError) as info:
        client().first_answer("GET", [dead, busy.base], "/x")
    assert f"{dead}: cannot reach" in info.value.msg and f"{busy.base}: 503 starting" in info.value.msg
    assert info.value.status == 503


def test_base_url_forms() -> None:
    assert _http.base_url("m1", "http", 8080) == "http://m1:8080"
    assert _http.base_url("https://m1/marathon/", "http", 8080) == "https://m1:8080/marathon"
    assert _http.base_url("[::1]:81", "http", 8080) == "http://[::1]:81"
    with pytest.raises(_http.HttpError):
        _http.base_url("m1:port", "http", 8080)


def test_bad_tls_files(tmp_path: Path) -> None:
    with pytest.raises(_http.HttpError, match="cannot set up TLS"):
        client(ca_path=str(tmp_path / "missing.pem")).exchange("GET", "https://127.0.0.1:1/")


def test_plain_http_needs_neither_ansible_urls_nor_a_tls_context(fake: Callable[..., FakeMarathon]) -> None:
    """What made an unchanged marathon_app run slow: urls (cryptography, email, cookies) and the CA store."""
    srv = fake({("GET", "/x"): (200, {}, {"ok": True})})
    loaded = imported_after(
        "from ansible_collections.orchestrator.platform.plugins.module_utils import _http\n"
        f"c = _http.HttpClient({{'timeout': 3.0}})\n"
        f"assert c.exchange('GET', '{srv.base}/x').json() == {{'ok': True}}\n"
        "assert c._tls_context is None\n"
    )
    assert "ansible.module_utils.urls" not in loaded and "cryptography" not in loaded
    assert "yaml" not in loaded


def test_https_context_built_once_with_the_options(tmp_path: Path) -> None:
    c = client(validate_certs=False)
    first = c.tls_context()
    assert c.tls_context() is first and first.verify_mode == ssl.CERT_NONE and not first.check_hostname
    verified = client().tls_context()
    assert verified.verify_mode == ssl.CERT_REQUIRED and verified.check_hostname
    with pytest.raises(_http.HttpError, match="cannot set up TLS"):
        client(client_cert=str(tmp_path / "missing-cert.pem"), client_key=str(tmp_path / "k.pem")).tls_context()


def test_no_module_packs_ansible_urls() -> None:
    """AnsiballZ packs every module_utils file a module imports, even inside a function, and the
    controller parses each one per task: urls.py alone cost about 0.09 s of CPU per run."""
    plugins = Path(_http.__file__).resolve().parents[1]
    for path in [*plugins.glob("module_utils/*.py"), *plugins.glob("modules/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or "", *(f"{node.module}.{a.name}" for a in node.names)]
            assert not [n for n in names if n.startswith("ansible.module_utils.urls")], path


def test_credentials_from_netrc_when_none_given(
    fake: Callable[..., FakeMarathon], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As open_url does: $NETRC (or ~/.netrc) for the host, unless url_username is given."""
    srv = fake({("GET", "/x"): (200, {}, {})})
    rc = tmp_path / "netrc"
    rc.write_text("machine 127.0.0.1 login fromrc password rcpass\n")
    rc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(rc))
    client().exchange("GET", srv.base + "/x")
    client(url_username="ops", url_password="s3cret").exchange("GET", srv.base + "/x")
    sent = [r["headers"].get("authorization") for r in srv.requests]
    assert sent == [
        "Basic " + base64.b64encode(b"fromrc:rcpass").decode(),
        "Basic " + base64.b64encode(b"ops:s3cret").decode(),
    ]
    rc.write_text("machine elsewhere login x password y\n")
    client().exchange("GET", srv.base + "/x")
    assert "authorization" not in srv.requests[-1]["headers"]


def test_proxy_from_the_environment(fake: Callable[..., FakeMarathon], monkeypatch: pytest.MonkeyPatch) -> None:
    """http_proxy applies (the request reaches the proxy with the absolute URL); no_proxy exempts."""
    proxy = fake({("GET", "http://marathon.invalid:8080/v2/info"): (200, {}, {"via": "proxy"})})
    for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", proxy.base)
    assert client().exchange("GET", "http://marathon.invalid:8080/v2/info").json() == {"via": "proxy"}
    target = fake({("GET", "/y"): (200, {}, {"via": "direct"})})
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    assert client().exchange("GET", target.base + "/y").json() == {"via": "direct"}
    assert [r["path"] for r in proxy.requests] == ["http://marathon.invalid:8080/v2/info"]


def test_redirect_to_another_scheme_is_refused(fake: Callable[..., FakeMarathon]) -> None:
    srv = fake({("GET", "/a"): (302, {"Location": "file:///etc/passwd"}, None)})
    with pytest.raises(_http.HttpError, match="not an http") as info:
        client().follow("GET", srv.base + "/a")
    assert info.value.status == 302
    with pytest.raises(_http.HttpError, match="not an http"):
        client().exchange("GET", "file:///etc/passwd")
    assert client().exchange("GET", srv.base + "/a").status == 302  # an answer, not followed
