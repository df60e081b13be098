"""Entry point of the Mesos PROTOCOL DOUBLE: personality from argv, flags, run.

Follows src/master/main.cpp and src/slave/main.cpp (--help and --version before load errors).
"""

from __future__ import annotations

import os
import sys

from .agent import Agent
from .common import DOUBLE_BANNER, MESOS_VERSION, log
from .flag_table import flag_specs
from .flags import FlagError, Flags, load
from .master import Master

# --------------------------------------------------------------------------------------------
# Entry point: personality from a first argument 'master'/'agent' or from argv[0]
# (mesos-master, mesos-agent, mesos-slave).
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0911 - one exit per outcome of main.cpp
    args = list(sys.argv if argv is None else argv)
    program = os.path.basename(args[0]) if args else "mesos-double"
    personality = None
    if len(args) > 1 and args[1] in ("master", "agent", "slave"):
        personality = "master" if args[1] == "master" else "agent"
        program = f"mesos-{personality}"
        args = [program, *args[2:]]
    elif "master" in program:
        personality = "master"
    elif "agent" in program or "slave" in program:
        personality = "agent"
    if personality is None:
        sys.stderr.write(
            "usage: mesos_double.py {master|agent} [--flag=value ...]\n"
            "(or install it as mesos-master / mesos-agent)\n\n" + DOUBLE_BANNER.format(version=MESOS_VERSION) + "\n"
        )
        return 1
    specs = flag_specs(personality)
    try:
        flags = load(f"mesos-{personality}", specs, args[1:], os.environ)
    except FlagError as exc:
        # src/{master,slave}/main.cpp check --help and --version before the load error.
        partial = exc.flags or Flags(f"mesos-{personality}", {s.name: s for s in specs})
        if partial["help"]:
            print(partial.usage(DOUBLE_BANNER.format(version=MESOS_VERSION)))
            return 0
        if partial["version"]:
            print(f"mesos {MESOS_VERSION}")
            return 0
        sys.stderr.write(f"{exc}\n\nSee `mesos-{personality} --help` for a list of supported flags.\n")
        return 1
    if flags["help"]:
        print(flags.usage(DOUBLE_BANNER.format(version=MESOS_VERSION)))
        return 0
    if flags["version"]:
        print(f"mesos {MESOS_VERSION}")
        return 0
    for warning in flags.warnings:
        log(warning, "W")
    if personality == "master":
        Master(flags).run()
    else:
        Agent(flags).run()
    return 0
