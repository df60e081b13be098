"""ZooKeeper four-letter words, as an operator's probe sends them (independent of the collection's _zk).

``srvr_mode`` tells apart what a rolling restart must tell apart: a mode (leader, follower,
observer, standalone), a server that answers but does not serve, a closed port, no answer.
"""

from __future__ import annotations

import socket

NOT_SERVING = "not currently serving requests"
SERVING_MODES = ("leader", "follower", "observer", "standalone")


def four_letter(host: str, port: int, cmd: str, timeout: float = 2.0) -> str:
    """Send a 4lw command and return the whole answer (raises OSError if unreachable)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(cmd.encode("ascii"))
        chunks: list[bytes] = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode("utf-8", "replace")


def parse_srvr(text: str) -> dict:
    """Parse ``srvr`` output into a dict with lower-case keys (``mode``, ``zxid`` as int...)."""
    if NOT_SERVING in text:
        return {"mode": None, "serving": False, "raw": text}
    out: dict = {"serving": True, "raw": text}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower().replace(" ", "_")
        value = value.strip()
        if key == "zxid":
            out["zxid"] = int(value, 16)
        elif key == "mode":
            out["mode"] = value
        elif key == "latency_min/avg/max":
            parts = value.split("/")
            out["latency_min/avg/max"] = value
            if len(parts) == 3:
                out["latency_min"], out["latency_avg"], out["latency_max"] = (float(p) for p in parts)
        else:
            try:
                out[key] = int(value)
            except ValueError:
                out[key] = value
    return out


def srvr_mode(host: str, port: int, timeout: float = 1.0) -> str:
    """The mode ``srvr`` reports (one of SERVING_MODES), or what stands in its place:
    'not-serving' (answers without a mode), 'down' (port closed: the process is not running)
    or 'no-answer' (timed out: busy, not necessarily down)."""
    try:
        answer = four_letter(host, port, "srvr", timeout)
    except ConnectionRefusedError:
        return "down"
    except OSError:
        return "no-answer"
    return parse_srvr(answer).get("mode") or "not-serving"
