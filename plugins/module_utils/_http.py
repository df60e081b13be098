# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one HTTP client of the collection (private to it), shared by the Mesos and Marathon code.

* :class:`HttpClient`: JSON requests on ``ansible.module_utils.urls`` (``Request.open``) with
  a timeout, HTTP basic auth sent with the first request, a CA file, a client certificate and
  key (one TLS context built per client), proxies from the environment, and a count of the
  requests made (:attr:`HttpClient.calls`).
* :meth:`HttpClient.exchange`: one request, no redirect followed, every HTTP status returned.
* :meth:`HttpClient.follow`: one request with redirects followed (``Location`` absolute,
  scheme-relative or relative; 307/308 keep the method and body, 301/302/303 only for GET).
* :meth:`HttpClient.first_answer`: the same request against several base URLs in order until
  one answers; the error names what each one said.

Service modules subclass :class:`HttpClient` and :class:`HttpError` (``_mesos.MesosClient``,
``_marathon.MarathonClient``) to map statuses to their own messages.
"""

from __future__ import annotations

import inspect
import json
import time
import urllib.error
from http.client import HTTPException
from urllib.parse import urljoin, urlsplit

from ansible.module_utils.urls import Request, make_context

# Request.open takes a ready TLS context since ansible-core 2.17; older ones build the same
# context from ca_path, validate_certs, client_cert and client_key on every request.
_OPEN_TAKES_CONTEXT = "context" in inspect.signature(Request.open).parameters

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


class HttpClient:
    """HTTP requests with a module's connection options.

    ``params`` keys used: ``timeout``, ``validate_certs``, ``url_username``, ``url_password``,
    ``ca_path``, ``client_cert``, ``client_key``. ``opener`` replaces ``Request().open`` (tests).
    """

    error: type[HttpError] = HttpError

    def __init__(self, params: dict, sleep=time.sleep, opener=None):
        self.params = params
        self.timeout = float(params.get("timeout") or 10.0)
        self._sleep = sleep
        # Request.open is what open_url calls; it takes a ready TLS context, built once here
        # instead of once per request (loading the CA store costs about 0.1 s each time).
        self._open = opener or (lambda url, **kw: Request().open(kw.pop("method"), url, **kw))
        self._tls_context = None
        self.calls = 0

    def tls_context(self):
        if self._tls_context is None:
            p = self.params
            try:
                self._tls_context = make_context(
                    cafile=p.get("ca_path"),
                    validate_certs=p.get("validate_certs", True),
                    client_cert=p.get("client_cert"),
                    client_key=p.get("client_key"),
                )
            except (OSError, ValueError) as exc:
                raise self.error(f"cannot set up TLS (ca_path, client_cert, client_key): {exc}") from exc
        return self._tls_context

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
        hdrs = {"Accept": "application/json", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body, sort_keys=True).encode("utf-8")
            # Mesos's v1 API insists on exactly this content type.
            hdrs["Content-Type"] = "application/json"
        p = self.params
        # Built (its files checked) even where Request.open cannot take it, so that bad TLS
        # files fail as this client's error on every ansible-core.
        tls_context = self.tls_context()
        tls = {"context": tls_context} if _OPEN_TAKES_CONTEXT else {}
        wait = timeout or self.timeout
        self.calls += 1
        try:
            resp = self._open(
                url,
                data=data,
                headers=hdrs,
                method=method,
                timeout=wait,
                validate_certs=p.get("validate_certs", True),
                url_username=p.get("url_username"),
                url_password=p.get("url_password"),
                force_basic_auth=bool(p.get("url_username")),
                follow_redirects="none",
                client_cert=p.get("client_cert"),
                client_key=p.get("client_key"),
                ca_path=p.get("ca_path"),
                use_proxy=True,
                **tls,
            )
        except urllib.error.HTTPError as exc:
            try:
                payload = exc.read() or b""
            except (OSError, HTTPException):
                payload = b""
            answer_headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
            # With redirects off, urllib reports the redirect target as the error's URL.
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
