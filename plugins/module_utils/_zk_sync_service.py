# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The zk_sync role's service (private): ``zk-sync-mirror CONFIG.json`` (:func:`service_main`).

The role copies this file and its imports (no more: ``roles/zk_sync/vars/main.yml`` lists them,
and a unit test holds that list to this file's import closure) into the service's own
directory; it mirrors until the stop marker appears or SIGTERM, then drains and verifies. Its
exit code tells systemd what to do: 0 consistent, 3 differences left, 2 bad settings or a
refusal and 4 a mirror feeding itself (both not restarted), 1 anything that may pass
(restarted).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading

from ansible_collections.orchestrator.platform.plugins.module_utils import _zk
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_config import build_config
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_engine import SyncEngine
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_errors import (
    LOG,
    ZkSyncError,
    ZkSyncLoop,
    ZkSyncUnavailable,
    describe_error,
)
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_metrics import Metrics
from ansible_collections.orchestrator.platform.plugins.module_utils._zk_sync_mirror import Mirror


def service_connection(conf: dict, side: str) -> dict:
    """One side's connection settings of the service's config, with the module's defaults."""
    given = conf.get(side)
    if not isinstance(given, dict) or not given.get("hosts"):
        raise ZkSyncError(f"{side}.hosts: the config file must name the {side} ensemble's servers")
    if given.get("auth_username") and given.get("auth_scheme", "digest") != "digest":
        raise ZkSyncError(f"{side}.auth_scheme: only digest is supported by zk_sync")
    defaults = {k: v.get("default") for k, v in _zk.zookeeper_argument_spec().items()}
    return {**defaults, **given}


def service_main(argv: list[str] | None = None) -> int:
    """``zk-sync-mirror CONFIG.json``: the role's service (mirror until stopped)."""
    parser = argparse.ArgumentParser(prog="zk-sync-mirror", description="Mirror ZooKeeper subtrees (zk_sync engine)")
    parser.add_argument("config", help="JSON file: {source: {...}, target: {...}, options: {...}, metrics_port}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    with open(args.config, encoding="utf-8") as f:
        conf = json.load(f)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_a: stop.set())
    signal.signal(signal.SIGINT, lambda *_a: stop.set())
    metrics = Metrics()
    engine: SyncEngine | None = None
    try:
        # Bad settings end with one line naming the field and exit 2, as the module's errors do;
        # the unit does not restart on 2 (RestartPreventExitStatus): the same settings would
        # fail the same way. A metrics port the service cannot bind (EADDRINUSE, EACCES) is one
        # of them (Metrics.serve says so as a ZkSyncError). An ensemble that does not answer yet
        # exits 1 and is retried, as does any other OSError (a connection reset, a network down).
        cfg = build_config(conf.get("options") or {})
        sides = {side: service_connection(conf, side) for side in ("source", "target")}
        if conf.get("metrics_port"):
            metrics.serve(int(conf["metrics_port"]), conf.get("metrics_address") or "0.0.0.0")  # noqa: S104
        engine = SyncEngine(cfg, sides["source"], sides["target"], metrics)
        engine.open()
        engine.preflight()
        res = Mirror(engine).run(
            duration=None,
            stop_marker=(conf.get("options") or {}).get("stop_marker"),
            drain_timeout=cfg.drain_timeout,
            should_stop=stop.is_set,
        )
        LOG.info("stopped: %s", json.dumps({k: v for k, v in res.items() if k != "verify"}, default=str))
        LOG.info(
            "verify: consistent=%s differences=%s", res["verify"]["consistent"], res["verify"]["differences_count"]
        )
        return 0 if res["verify"]["consistent"] else 3
    except ZkSyncUnavailable as exc:
        LOG.error("%s (the unit retries)", exc)
        return 1
    except ZkSyncLoop as exc:  # the same settings would loop again: not restarted either
        LOG.error("%s", exc)
        return 4
    except ZkSyncError as exc:
        LOG.error("%s", exc)
        return 2
    except OSError as exc:  # not a setting: may pass by itself
        LOG.error("%s (the unit retries)", describe_error(exc))
        return 1
    finally:
        if engine is not None:
            engine.close()
        metrics.close()
