# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one HTTP client of the collection (private to it), shared by the Mesos and Marathon code.

* :class:`HttpClient`: JSON requests on Python's ``urllib.request`` with a timeout, HTTP basic
  auth sent with the first request (from the options, else ``~/.netrc`` or ``$NETRC`` as
  Ansible's ``open_url`` does), proxies from the environment (``http_proxy``, ``https_proxy``,
  ``no_proxy``), and a count of the requests made (:attr:`HttpClient.calls`). HTTPS uses one
  TLS context per client (:func:`tls_context`: the system CA store or ``ca_path``,
  ``validate_certs``, a client certificate and key), built the first time an ``https://`` URL
  is asked.
* :meth:`HttpClient.exchange`: one request, no redirect followed, every HTTP status returned.
* :meth:`HttpClient.follow`: one request with redirects followed (``Location`` absolute,
  scheme-relative or relative; 307/308 keep the method and body, 301/302/303 only for GET).
* :meth:`HttpClient.first_answer`: the same request against several base URLs in order until
  one answers; the error names what each one said.

Why not ``ansible.module_utils.urls``: every module that imports it, even inside a function,
gets it packed into its AnsiballZ payload. On the controller, Ansible parses every packed file
(``recursive_finder``) in a worker forked from a large process, where the garbage collector's
full passes make urls.py alone cost about 0.09 s of CPU per task; on the host, importing it
(cryptography, email, cookies) costs 0.05 to 0.07 s, and building its TLS context loads the CA
store even for ``http://``. That was most of what an unchanged ``marathon_app`` run cost
beyond ``ansible.builtin.ping`` (benchmarks/results/marathon_app.md).

Service modules subclass :class:`HttpClient` and :class:`HttpError` (``_mesos.MesosClient``,
``_marathon.MarathonClient``) to map statuses to their own messages.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import time
import urllib.error
import urllib.request
from http.client import HTTPException, HTTPSConnection
from urllib.parse import urljoin, urlsplit

REDIRECT_STATUSES = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 3


class HttpError(Exception):
    """A request that got no usable answer, or an answer that is an error.

    ``status`` is the HTTP status (None when no HTTP answer came at all), ``url`` the request,
    ``body`` the server's own message (its response body, as text).
    """

    def __init__(self, msg: str, status: int | None = None, url: str | None = None, body: str | None = None):
        super().__init__(msg)
        self.msg = msg
        self.status = status
        self.url = url
        self.body = body

    def result(self) -> dict:
        """Extra keys for ``fail_json``."""
        return {"status": self.status, "url": self.url, "body": self.body}


class Response:
    """An HTTP answer: status, lower-cased headers, raw body, the URL asked."""

    def __init__(self, status: int, headers: dict, body: bytes, url: str, error: type[HttpError] = HttpError):
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url
        self.error = error

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise self.error(
                f"{self.url} answered {self.status} with a body that is not JSON: {self.text[:200]!r}",
                status=self.status,
                url=self.url,
                body=self.text[:2000],
            ) from exc


def base_url(entry: str, default_scheme: str, default_port: int, error: type[HttpError] = HttpError) -> str:
    """``host``, ``host:port``, ``[::1]:port``, ``https://host:port/`` -> ``scheme://host:port``.

    A path is kept (a service behind a reverse proxy under a prefix), without its trailing slash.
    """
    if not isinstance(entry, str) or not entry.strip():
        raise error(f"empty URL entry {entry!r}")
    text = entry.strip()
    if "://" not in text:
        text = f"{default_scheme}://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise error(f"{entry!r} is not an http(s) URL or host:port")
    try:
        port = parts.port or default_port
    except ValueError as exc:
        raise error(f"bad port in {entry!r}") from exc
    if not parts.hostname:
        raise error(f"no host in {entry!r}")
    if parts.query or parts.fragment:
        raise error(f"{entry!r} has a query or fragment; give scheme://host:port[/prefix]")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port}{parts.path.rstrip('/')}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect comes back as an answer (an HTTPError with its 3xx): :meth:`HttpClient.follow` decides."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: PLR0917 - urllib's signature
        return None


def tls_context(
    ca_path: str | None, validate_certs: bool, client_cert: str | None, client_key: str | None
) -> ssl.SSLContext:
    """An ``ssl.SSLContext`` for a client's HTTPS requests.

    Verified against ``ca_path`` only when it is given, else against the system's CA store
    (``ssl.create_default_context``: OpenSSL's default paths); ``validate_certs=False`` checks
    neither the chain nor the host name. A client certificate (and its key) is offered to
    servers that ask, during the handshake or after it (TLS 1.3). ``ssl`` raises OSError or
    ValueError (``ssl.SSLError`` is an OSError) for files it cannot read or use.
    """
    context = ssl.create_default_context(cafile=ca_path or None)
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert:
        context.post_handshake_auth = True
        context.load_cert_chain(client_cert, keyfile=client_key or None)
    return context


class _ClientHTTPSHandler(urllib.request.HTTPSHandler):
    """HTTPS with the client's TLS context, built when the first HTTPS connection needs it."""

    def __init__(self, client: HttpClient):
        super().__init__()
        self._client = client

    def https_open(self, req):
        return self.do_open(HTTPSConnection, req, context=self._client.tls_context())


def netrc_credentials(host: str | None) -> tuple[str, str] | None:
    """``(login, password)`` for ``host`` from ``$NETRC`` or ``~/.netrc``, as ``open_url`` reads them."""
    path = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
    if not host or not os.path.isfile(path):
        return None
    import netrc  # noqa: PLC0415 - only when there is a file: most hosts have none

    try:
        login = netrc.netrc(os.environ.get("NETRC")).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return None
    if login and login[0] and login[2]:
        return login[0], login[2]
    return None


def _basic_auth(username: str, password: str | None) -> str:
    token = base64.b64encode(f"{username}:{password or ''}".encode()).decode("ascii")
    return f"Basic {token}"


class HttpClient:
    """HTTP requests with a module's connection options.

    ``params`` keys used: ``timeout``, ``validate_certs``, ``url_username``, ``url_password``,
    ``ca_path``, ``client_cert``, ``client_key``. ``opener`` replaces the ``urllib`` opener's
    ``open(request, timeout=...)`` (tests).
    """

    error: type[HttpError] = HttpError

    def __init__(self, params: dict, sleep=time.sleep, opener=None):
        self.params = params
        self.timeout = float(params.get("timeout") or 10.0)
        self._sleep = sleep
        # urllib's default handlers, with redirects returned instead of followed and HTTPS on
        # this client's context; ProxyHandler() reads the proxies (and no_proxy) from the
        # environment. exchange() refuses any scheme but http and https.
        self._open = (
            opener
            or urllib.request.build_opener(urllib.request.ProxyHandler(), _NoRedirect(), _ClientHTTPSHandler(self)).open
        )
        self._tls_context = None
        self._netrc: dict[str, tuple[str, str] | None] = {}
        self.calls = 0

    def tls_context(self):
        """The TLS context of this client's HTTPS requests, built on first use (an ``http://`` run never builds one)."""
        if self._tls_context is None:
            p = self.params
            try:
                self._tls_context = tls_context(
                    p.get("ca_path"), p.get("validate_certs", True), p.get("client_cert"), p.get("client_key")
                )
            except (OSError, ValueError) as exc:
                raise self.error(f"cannot set up TLS (ca_path, client_cert, client_key): {exc}") from exc
        return self._tls_context

    def _authorization(self, url: str) -> str | None:
        p = self.params
        if p.get("url_username"):
            return _basic_auth(p["url_username"], p.get("url_password"))
        host = urlsplit(url).hostname or ""
        if host not in self._netrc:
            self._netrc[host] = netrc_credentials(host)
        login = self._netrc[host]
        return _basic_auth(*login) if login else None

    def exchange(
        self,
        method: str,
        url: str,
        body: object = None,
        timeout: float | None = None,
        headers: dict | None = None,
    ) -> Response:
        """One request, no retry, no redirect followed; any HTTP status is returned.

        Raises ``self.error`` (status None) only when no HTTP answer came (refused, timeout, TLS).
        """
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise self.error(f"not an http(s) URL: {url}", url=url)
        hdrs = {"Accept": "application/json", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body, sort_keys=True).encode("utf-8")
            # Mesos's v1 API insists on exactly this content type.
            hdrs["Content-Type"] = "application/json"
        auth = self._authorization(url)
        if auth and not any(k.lower() == "authorization" for k in hdrs):
            hdrs["Authorization"] = auth  # sent with the first request, not after a 401
        if scheme == "https":
            self.tls_context()  # bad TLS files fail here as this client's error
        wait = timeout or self.timeout
        request = urllib.request.Request(url, data=data, headers=hdrs, method=method)  # noqa: S310 - scheme checked above
        self.calls += 1
        try:
            resp = self._open(request, timeout=wait)
        except urllib.error.HTTPError as exc:
            try:
                payload = exc.read() or b""
            except (OSError, HTTPException):
                payload = b""
            answer_headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
            return Response(exc.code, answer_headers, payload, url, self.error)
        except urllib.error.URLError as exc:
            raise self.error(f"cannot reach {url}: {exc.reason}", url=url) from exc
        except TimeoutError as exc:
            raise self.error(f"no answer from {url} within {wait}s", url=url) from exc
        except (OSError, HTTPException) as exc:
            raise self.error(f"request to {url} failed: {exc}", url=url) from exc
        try:
            payload = resp.read()
        except (OSError, HTTPException) as exc:
            raise self.error(f"reading the answer of {url} failed: {exc}", url=url) from exc
        answer_headers = {k.lower(): v for k, v in resp.headers.items()}
        return Response(resp.status, answer_headers, payload, url, self.error)

    def follow(
        self, method: str, url: str, body: object = None, timeout: float | None = None, headers: dict | None = None
    ) -> Response:
        """One request with redirects followed (at most MAX_REDIRECTS hops).

        307/308 repeat the method and body at the new place. 301/302/303 are followed for GET
        and HEAD only: turning a write into a GET, as browsers do, would silently drop it.
        """
        seen = [url]
        for _hop in range(MAX_REDIRECTS + 1):
            response = self.exchange(method, url, body, timeout, headers)
            if response.status not in REDIRECT_STATUSES:
                return response
            location = response.headers.get("location", "")
            if not location:
                raise self.error(f"redirect without a Location header from {url}", status=response.status, url=url)
            if response.status in (301, 302, 303) and method not in ("GET", "HEAD"):
                raise self.error(
                    f"{url} redirects a {method} to {location} with {response.status}; "
                    "give the service's own URL (only 307/308 may carry a write)",
                    status=response.status,
                    url=url,
                )
            target = urljoin(url, location.strip())
            if urlsplit(target).scheme not in ("http", "https"):
                raise self.error(f"{url} redirects to {location}, not an http(s) URL", status=response.status, url=url)
            if target in seen:
                raise self.error(f"redirect loop: {' -> '.join([*seen, target])}", status=response.status, url=url)
            seen.append(target)
            url = target
        raise self.error(f"too many redirects: {' -> '.join(seen)}", status=response.status, url=url)

    def first_answer(
        self,
        method: str,
        bases: list[str],
        path: str,
        body: object = None,
        *,
        skip_statuses: tuple[int, ...] = (502, 503, 504),
        timeout: float | None = None,
        headers: dict | None = None,
    ) -> tuple[str, Response]:
        """``method base+path`` on each base URL in order until one answers.

        A base that cannot be reached, or answers one of ``skip_statuses`` (a proxy or an
        instance without a leader), is passed over; the error lists what every base said.
        Returns the base that answered and its response. A write is repeated on the next base
        only when the previous one gave no HTTP answer or one of ``skip_statuses``.
        """
        problems = []
        last: HttpError | None = None
        for base in bases:
            try:
                response = self.follow(method, base + path, body, timeout, headers)
            except HttpError as exc:
                if exc.status is not None:  # a redirect problem: an answer, but a wrong one
                    raise
                problems.append(f"{base}: {exc.msg}")
                last = exc
                continue
            if response.status in skip_statuses:
                text = response.text.strip()[:200]
                problems.append(f"{base}: {response.status}{' ' + text if text else ''}")
                last = self.error(problems[-1], status=response.status, url=response.url, body=text or None)
                continue
            return base, response
        if last is None:
            raise self.error("no URL to ask")
        raise self.error(
            f"no answer from any of {len(bases)} URL(s) for {method} {path}: " + "; ".join(problems),
            status=last.status,
            url=last.url,
            body=last.body,
        )

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)
