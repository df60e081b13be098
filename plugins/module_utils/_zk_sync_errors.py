# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The zk_sync engine's errors and its logger (private).

What each error means decides what happens next: :class:`ZkSyncError` is the user's to fix
(the module fails, the service exits 2), :class:`ZkSyncUnavailable` may pass by itself (the
service exits 1 and systemd retries), :class:`ZkSyncLoop` is a mirror feeding itself (exit 4).
"""

from __future__ import annotations

import logging

from ansible_collections.orchestrator.platform.plugins.module_utils import _zk_sync_wire as wire

try:
    from kazoo import exceptions as kexc
except ImportError:  # reported by the module through _zk.HAS_KAZOO / missing_required_lib
    pass

LOG = logging.getLogger("ansible_collections.orchestrator.platform.zk_sync")
if not LOG.handlers:
    LOG.addHandler(logging.NullHandler())


class ZkSyncError(Exception):
    """A problem for the user: bad input, refused operation, unfaithful copy."""


class ZkSyncUnavailable(ZkSyncError):
    """No server of an ensemble answered in time: may pass by itself (the service retries)."""


class ZkSyncLoop(ZkSyncError):
    """The mirror's own target writes arrive on its source: one ensemble, overlapping paths."""


def describe_error(exc: BaseException | None) -> str:
    """An error's class and message: kazoo's exceptions (``NoNodeError()``) have no message."""
    if exc is None:
        return "no answer and no error given"
    text = str(exc).strip()
    if isinstance(exc, ZkSyncError) and text:
        return text  # the engine's own messages say what failed
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class MultiFailed(ZkSyncError):
    """A ``multi`` rolled back: names the op that failed and its error (kept as ``cause``)."""

    def __init__(self, cause: BaseException, where: str) -> None:
        super().__init__(f"{describe_error(cause)} at {where}")
        self.cause = cause


try:
    CONNECTION_ERRORS: tuple = (
        kexc.ConnectionLoss,
        kexc.SessionExpiredError,
        kexc.ConnectionClosedError,
        wire.WireError,
    )
except NameError:  # kazoo missing: reported by the module
    CONNECTION_ERRORS = (wire.WireError,)
