"""kazoo clients for tests and benchmarks: started, and always stopped and closed afterwards."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError


@contextmanager
def kazoo_client(
    hosts: str, *, auth: tuple[str, str] | None = None, timeout: float = 10, start_timeout: float = 15, **kwargs: Any
) -> Iterator[KazooClient]:
    """A started KazooClient on ``hosts`` (digest ``auth`` = (user, password) if given); stopped and closed on exit.

    ``kwargs`` go to KazooClient (``use_ssl``, ``ca``, ``certfile``...).
    """
    auth_data = [("digest", f"{auth[0]}:{auth[1]}")] if auth else None
    client = KazooClient(hosts=hosts, timeout=timeout, auth_data=auth_data, **kwargs)
    client.start(timeout=start_timeout)
    try:
        yield client
    finally:
        client.stop()
        client.close()


def super_digest(user: str, password: str) -> str:
    """``user:base64(sha1(user:password))``: the value of DigestAuthenticationProvider.superDigest."""
    raw = hashlib.sha1(f"{user}:{password}".encode()).digest()  # ZooKeeper's digest scheme
    return f"{user}:{base64.b64encode(raw).decode()}"


def delete_recursive(client: KazooClient, path: str) -> None:
    """Delete ``path`` and everything under it; an absent path is fine."""
    try:
        client.delete(path, recursive=True)
    except NoNodeError:
        pass
