"""Docker Engine API client of the Mesos PROTOCOL DOUBLE (standard library only).

Upstream Mesos drives Docker through the ``docker`` CLI (src/docker/docker.cpp: Docker::pull,
Docker::run, Docker::inspect, Docker::stop, Docker::kill, Docker::rm, Docker::ps). The double
talks to the same engine through its HTTP API on the unix socket (``--docker_socket``) with
http.client, and renders CLI-shaped command lines and error texts (``docker -H unix://<socket>
pull <image>``, ``Error response from daemon: ...``) where upstream puts them in messages.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.parse
from typing import Any

API = "/v1.41"  # Docker 20.10's API version (the oldest engine the lab runs)


class EngineError(Exception):
    """The engine answered an error (status, and its ``message`` as the CLI prints it)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None) -> None:
        super().__init__("docker", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


class DockerEngine:
    def __init__(self, socket_path: str, docker_path: str = "docker") -> None:
        self.socket_path = socket_path
        self.docker_path = docker_path
        # src/docker/docker.hpp: socket(DEFAULT_DOCKER_HOST_PREFIX + socket), i.e. unix://...
        self.host = "unix://" + socket_path

    def cli(self, *args: str) -> str:
        """The command line upstream would run (for messages): ``docker -H unix://... <args>``."""
        return " ".join([self.docker_path, "-H", self.host, *args])

    # ---- raw requests ---------------------------------------------------------------------
    def request(
        self, method: str, path: str, body: Any = None, query: dict | None = None, timeout: float | None = 30.0
    ) -> tuple[int, bytes]:
        url = API + path + ("?" + urllib.parse.urlencode(query) if query else "")
        conn = _UnixConnection(self.socket_path, timeout)
        try:
            headers = {"Host": "docker"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, url, body=data, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def stream(self, path: str, query: dict) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """A GET whose body is read as it arrives (``docker logs -f``); the caller closes it."""
        conn = _UnixConnection(self.socket_path, None)
        conn.request("GET", API + path + "?" + urllib.parse.urlencode(query), headers={"Host": "docker"})
        return conn, conn.getresponse()

    def call(
        self, method: str, path: str, body: Any = None, query: dict | None = None, timeout: float | None = 30.0
    ) -> Any:
        status, data = self.request(method, path, body, query, timeout)
        if status >= 400:
            raise EngineError(status, _message(data))
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return data.decode("utf-8", "replace")

    # ---- images ---------------------------------------------------------------------------
    def ping(self) -> bool:
        try:
            status, data = self.request("GET", "/_ping", timeout=3.0)
        except OSError:
            return False
        return status == 200 and data.strip() == b"OK"

    def image_inspect(self, image: str) -> dict | None:
        try:
            return self.call("GET", f"/images/{urllib.parse.quote(image, safe='/:@')}/json")
        except EngineError as exc:
            if exc.status == 404:
                return None
            raise

    def pull(self, image: str, timeout: float = 600.0) -> str | None:
        """Pull like ``docker pull``: None on success, else the CLI's stderr text.

        The CLI prints the engine's refusal as ``Error response from daemon: <message>`` and a
        failure reported inside the progress stream as the stream's ``error`` text.
        """
        name, tag = split_image(image)
        try:
            status, data = self.request(
                "POST", "/images/create", query={"fromImage": name, "tag": tag}, timeout=timeout
            )
        except OSError as exc:
            return f"Cannot connect to the Docker daemon at {self.host}. Is the docker daemon running?: {exc}\n"
        if status >= 400:
            return f"Error response from daemon: {_message(data)}\n"
        for line in data.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("error"):
                return f"{event['error']}\n"
        return None

    # ---- containers -----------------------------------------------------------------------
    def create(self, name: str, config: dict) -> str:
        return str(self.call("POST", "/containers/create", config, {"name": name})["Id"])

    def start(self, container: str) -> None:
        self.call("POST", f"/containers/{container}/start")

    def inspect(self, container: str) -> dict | None:
        try:
            return self.call("GET", f"/containers/{container}/json", timeout=10.0)
        except EngineError as exc:
            if exc.status == 404:
                return None
            raise

    def stop(self, container: str, grace_secs: int) -> None:
        # Docker::stop: `docker stop -t <secs>`: the image's stop signal (SIGTERM), then SIGKILL.
        try:
            self.call("POST", f"/containers/{container}/stop", query={"t": str(grace_secs)}, timeout=grace_secs + 30.0)
        except EngineError as exc:
            if exc.status not in (304, 404):
                raise

    def kill(self, container: str, signal: str = "SIGKILL") -> None:
        try:
            self.call("POST", f"/containers/{container}/kill", query={"signal": signal})
        except EngineError as exc:
            if exc.status not in (404, 409):
                raise

    def wait(self, container: str) -> int:
        """Block until the container stops; its exit code (``docker run``'s exit status)."""
        result = self.call("POST", f"/containers/{container}/wait", query={"condition": "not-running"}, timeout=None)
        return int(result.get("StatusCode", -1))

    def remove(self, container: str, force: bool = True) -> None:
        try:
            self.call("DELETE", f"/containers/{container}", query={"force": "1" if force else "0", "v": "1"})
        except EngineError as exc:
            if exc.status != 404:
                raise

    def list_by_prefix(self, prefix: str) -> list[dict]:
        """``docker ps -a`` filtered to names starting with ``prefix`` (Docker::ps(true, prefix))."""
        found = self.call("GET", "/containers/json", query={"all": "1", "filters": json.dumps({"name": [prefix]})})
        out = []
        for item in found or []:
            names = [n.lstrip("/") for n in item.get("Names", [])]
            if any(n.startswith(prefix) for n in names):
                out.append(dict(item, Name=next(n for n in names if n.startswith(prefix))))
        return out

    def exec_run(self, container: str, cmd: list[str], env: list[str], timeout: float | None) -> int:
        """``docker exec <container> <cmd>``: the command's exit code (EngineError/OSError otherwise)."""
        created = self.call(
            "POST",
            f"/containers/{container}/exec",
            {"Cmd": cmd, "Env": env, "AttachStdout": True, "AttachStderr": True},
        )
        exec_id = created["Id"]
        # Attached start: the engine answers once the command ends (its output is discarded,
        # as the checker sends it to the executor's stderr).
        self.request("POST", f"/exec/{exec_id}/start", {"Detach": False, "Tty": False}, timeout=timeout)
        result = self.call("GET", f"/exec/{exec_id}/json")
        if result.get("Running"):
            raise TimeoutError("exec still running")
        return int(result.get("ExitCode") or 0)


def split_image(image: str) -> tuple[str, str]:
    # Docker::pull: no tag after the last '/' means ':latest'.
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        name, _unused, digest = image.partition("@")
        return name, digest
    if ":" in last:
        name, _unused, tag = image.rpartition(":")
        return name, tag
    return image, "latest"


def full_image(image: str) -> str:
    name, tag = split_image(image)
    return f"{name}@{tag}" if tag.startswith("sha256:") else f"{name}:{tag}"


def _message(data: bytes) -> str:
    try:
        obj = json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace").strip()
    if isinstance(obj, dict) and "message" in obj:
        return str(obj["message"])
    return data.decode("utf-8", "replace").strip()
