# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The zk_sync engine's node model and path helpers (private).

A :class:`Node` is one znode as read (data, ``Stat`` tuple, ACL, children); ACLs are sorted
tuples of ``(scheme, id, perms)`` so that two sides compare with ``==``. Paths are plain
strings: :func:`child_path`, :func:`parent_path`, :func:`path_depth`, :func:`within` and
:func:`subtree_paths` are the only arithmetic the engine does on them.
"""

from __future__ import annotations

from collections.abc import Callable

from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_errors import ZkSyncError

Acl = tuple  # ((scheme, id, perms), ...) sorted

# stat tuple indexes (ZooKeeper's Stat record order)
S_VERSION = 4
S_CVERSION = 5
S_EPHEMERAL = 7
S_NUMCHILDREN = 9


class Node:
    """One znode as read: ``data`` (None is null data, not empty), ``stat`` (ZooKeeper's
    ``Stat`` as a tuple), ``acl`` (an :data:`Acl`) and ``children`` (names)."""

    __slots__ = ("acl", "children", "data", "path", "stat")

    def __init__(self, path: str, data: bytes | None, stat: tuple, acl: Acl, children: list[str] | None) -> None:
        self.path = path
        self.data = data
        self.stat = stat
        self.acl = acl
        self.children = children

    @property
    def ephemeral(self) -> bool:
        return bool(self.stat[S_EPHEMERAL])

    @property
    def cversion(self) -> int:
        return int(self.stat[S_CVERSION])


def acl_tuple(entries: list) -> Acl:
    return tuple(sorted(entries))


def check_redacted(node: Node, side: str) -> None:
    """Refuse a node whose digest ACL ids ZooKeeper hid (``user:x``): copying them corrupts them."""
    for scheme, ident, _perms in node.acl:
        if scheme == "digest" and ident.endswith(":x"):
            raise ZkSyncError(
                f"{side} {node.path}: ZooKeeper hid the digest ACL id {ident!r} because this session "
                "lacks ADMIN on the node; copying it would write a corrupted ACL. Connect the "
                f"{side} as the super user (DigestAuthenticationProvider.superDigest) or as the node's owner."
            )


def child_path(parent: str, name: str) -> str:
    return ("" if parent == "/" else parent) + "/" + name


def parent_path(path: str) -> str:
    head = path.rsplit("/", 1)[0]
    return head or "/"


def path_depth(path: str) -> int:
    return 0 if path == "/" else path.count("/")


def within(path: str, root: str) -> bool:
    """``path`` is ``root`` or lies below it."""
    return root in ("/", path) or path.startswith(root + "/")


def subtree_paths(root: str, read: Callable[[list[str]], list[Node | None]]) -> list[str]:
    """The paths of a subtree as ``read`` finds them, every parent before its children."""
    order: list[str] = []
    stack = [root]
    while stack:
        batch = stack[-500:]
        del stack[-500:]
        for node in read(batch):
            if node is None:
                continue
            order.append(node.path)
            stack.extend(child_path(node.path, c) for c in node.children or ())
    return order
