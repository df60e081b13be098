"""Test helpers: canned four-letter-word servers on 127.0.0.1 and running a module's main()."""

from __future__ import annotations

import json
import pathlib
import socket
import threading
from collections.abc import Callable

import pytest
from ansible.module_utils.testing import patch_module_args

DATA = pathlib.Path(__file__).parent / "module_utils" / "data"


def captured(name: str) -> str:
    """A real answer captured from the loopback ensemble (see data/README.md)."""
    return (DATA / name).read_text(encoding="utf-8")


class FourLetterServer:
    """Answers each 4lw command from a dict (``{"srvr": text}``); unknown commands get nothing."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn = self.sock.accept()[0]
            except OSError:
                return
            with conn:
                cmd = conn.recv(4).decode("ascii", "replace")
                self.seen.append(cmd)
                conn.sendall(self.answers.get(cmd, "").encode())

    def close(self) -> None:
        self.sock.close()


def unused_port() -> int:
    """A port nothing listens on (bound and released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LEADER = {"srvr": "srvr_leader.txt", "mntr": "mntr_leader.txt"}
FOLLOWER = {"srvr": "srvr_follower.txt", "mntr": "mntr_follower.txt"}
NOT_SERVING = {"srvr": "srvr_not_serving.txt", "mntr": "mntr_not_serving.txt", "ruok": "ruok_not_serving.txt"}
STANDALONE = {"srvr": "srvr_standalone.txt"}


def run_module(main: Callable[[], None], args: dict, capsys: pytest.CaptureFixture[str]) -> tuple[bool, dict]:
    """Run a module's main() with ``args``; return (failed, result)."""
    with patch_module_args(args), pytest.raises(SystemExit) as exc:
        main()
    result = json.loads(capsys.readouterr().out)
    return bool(exc.value.code) or bool(result.get("failed")), result
