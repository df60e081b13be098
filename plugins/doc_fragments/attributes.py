# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # What each attribute means, written once, as ansible-core's action_common_attributes does.
    # Every module extends this fragment and declares in its own DOCUMENTATION only how far it
    # supports each attribute (support: full, partial, none or N/A) and, where useful, details:
    # with what the attribute means for that module. Their dicts are merged, the module's keys win.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description:
      - Can run in check mode and return a changed status prediction without modifying the target.
  diff_mode:
    description:
      - Returns details on what has changed (or would change in check mode) when run in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode with the same arguments, the second run
        reports no change.
      - This assumes that what the module manages was not changed by something else in between.
"""

    # Read-only modules (*_info): extend together with the fragment above.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - The module only reads; it runs normally in check mode.
  diff_mode:
    support: N/A
    details:
      - Nothing changes, so there is no diff.
  idempotent:
    support: full
    details:
      - The module only reads.
"""
