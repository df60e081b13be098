"""Free TCP ports on 127.0.0.1, picked at run time so that parallel runs do not collide."""

from __future__ import annotations

import socket


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that were free on 127.0.0.1 a moment ago.

    All sockets are held open until every port is picked, so the ports are distinct.
    """
    socks: list[socket.socket] = []
    try:
        for _index in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (nothing listens there now)."""
    return free_ports(1)[0]
