"""``python3 path/to/marathon_double ...`` and ``python3 -m marathon_double ...``."""

import os
import sys

if not __package__:
    # Run as a directory: Python put the package's own folder first on sys.path, where its
    # modules (http, ...) would shadow the standard library's; import it as a package instead.
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
    sys.path.insert(0, os.path.dirname(_here))

from marathon_double.main import main

sys.exit(main())
