# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lab and test strategy: Mitogen's linear strategy on the managed hosts, Ansible's own on the controller.

Mitogen runs each host's modules in one Python kept alive for the whole run instead of one
per task: a no-change site.yml on the lab takes a third of the time (docs/performance.md).
Molecule's own create and destroy playbooks run on localhost and wait for their asynchronous
docker tasks with async_status, which never sees Mitogen's jobs finish; plays that target only
localhost therefore run with Ansible's linear strategy, unchanged.

Not part of the collection (tools/ is not shipped): users choose their own strategy.
"""

from __future__ import annotations

from typing import Any

import ansible_mitogen.strategy  # imports its loaders, which check the ansible-core version
from ansible.plugins.strategy.linear import StrategyModule as LinearStrategy

CONTROLLER_ONLY = (["localhost"], "localhost")


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, LinearStrategy):
    def run(self, iterator: Any, play_context: Any, *args: Any) -> Any:
        if iterator._play.hosts in CONTROLLER_ONLY:
            return LinearStrategy.run(self, iterator, play_context, *args)
        return super().run(iterator, play_context, *args)
