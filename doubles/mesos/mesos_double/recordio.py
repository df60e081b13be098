"""RecordIO framing of the Mesos PROTOCOL DOUBLE's event streams (not Apache Mesos).

Follows docs/scheduler-http-api.md ("RecordIO response format") and
src/common/recordio.hpp / 3rdparty/stout/include/stout/recordio.hpp: every record is
``<length in bytes, decimal>\\n<record bytes>``; the records of the v1 APIs are JSON-serialised
events (`application/json`).
"""

from __future__ import annotations

import json
from typing import Any


def encode(event: Any) -> bytes:
    """One record: the event as compact JSON, prefixed with its length and a newline."""
    # stout's JSON writer leaves non-ASCII UTF-8 as it is; the length counts bytes.
    data = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
    return str(len(data)).encode() + b"\n" + data


class Decoder:
    """Incremental decoder (stout's recordio::Decoder): feed bytes, get whole records."""

    def __init__(self) -> None:
        self._buffer = b""

    def decode(self, data: bytes) -> list[bytes]:
        self._buffer += data
        records = []
        while True:
            head, sep, rest = self._buffer.partition(b"\n")
            if not sep:
                break
            if not head.isdigit():
                raise ValueError(f"Failed to decode length '{head.decode(errors='replace')}'")
            size = int(head)
            if len(rest) < size:
                break
            records.append(rest[:size])
            self._buffer = rest[size:]
        return records
