# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The zk_sync module's one run (private): :func:`run` connects, checks, and copies, verifies or
mirrors once, and returns the module's result.

The engine itself is in ``_zk_sync_engine.py`` (copy, verify) and ``_zk_sync_mirror.py``;
docs/zk_sync.md has the design.
"""

from __future__ import annotations

from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_config import (
    build_config,
    check_path,
    require_float,
)
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_engine import SyncEngine
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_errors import ZkSyncError
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_metrics import Metrics
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_mirror import Mirror


def run(
    mode: str,
    source: dict,
    target: dict,
    opts: dict,
    *,
    check_mode: bool = False,
    metrics_port: int | None = None,
    metrics_address: str = "127.0.0.1",
) -> dict:
    """What the zk_sync module does for one mode; raises ZkSyncError on bad input."""
    cfg = build_config(opts)
    metrics = Metrics()
    if metrics_port:
        metrics.serve(metrics_port, metrics_address)
    engine = SyncEngine(cfg, source, target, metrics)
    try:
        engine.open()
        if mode == "verify":
            res = engine.verify()
            return {"changed": False, "verify": res, "consistent": res["consistent"]}
        pre = engine.preflight()  # in check mode too: a dry run must not promise what a run refuses
        if mode == "copy":
            res = engine.copy(dry_run=check_mode)
            return {"changed": res["changed"], "copy": res, "resumed": pre["resumed"]}
        if mode == "mirror":
            duration = opts.get("duration")
            stop_marker = opts.get("stop_marker")
            if stop_marker:
                stop_marker = check_path(stop_marker, "stop_marker")
            if duration is not None:
                duration = require_float(duration, "duration", 0.0, 86400.0 * 365)
            if not duration and not stop_marker:
                raise ZkSyncError("duration or stop_marker: mode=mirror needs at least one way to end")
            res = Mirror(engine).run(duration=duration, stop_marker=stop_marker, drain_timeout=cfg.drain_timeout)
            changed = bool(res["events_applied"] or res["repairs"] or (res["copy"] or {}).get("changed"))
            return {"changed": changed, "mirror": res, "consistent": res["verify"]["consistent"]}
        raise ZkSyncError(f"mode: {mode!r} is not one of copy, verify, mirror")
    finally:
        engine.close()
        metrics.close()
