"""Bootstrap pip into ansible-test's empty virtualenvs without its download site.

ansible-test fetches a get-pip script from ci-files.testing.ansible.com, which this project's
machines cannot reach (only PyPI is). It looks for a cached copy first, so tools/sanity puts
this script there. It takes the same arguments as get-pip (`pip==X [--no-setuptools]
[--no-wheel]`), installs pip from CPython's own ensurepip, then the requested pip from PyPI.
"""

from __future__ import annotations

import subprocess
import sys


def main() -> None:
    args = sys.argv[1:]
    drop = {"--no-setuptools", "--no-wheel"}
    # In a child process: ensurepip blanks PIP_CONFIG_FILE in its own environment, which would
    # hide the machine's pip settings (index, CA bundle) from the install below.
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
    subprocess.check_call([sys.executable, "-m", "pip", "install", *[a for a in args if a not in drop]])
    if "--no-setuptools" in args:
        subprocess.call([sys.executable, "-m", "pip", "uninstall", "-y", "-q", "setuptools"])


if __name__ == "__main__":
    main()
