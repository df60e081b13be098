"""Helpers shared by the tests (tests/), the Molecule checks (molecule/) and the benchmarks.

One module per concern; import the module or its names, never copy a helper:

- ``ports``: free TCP ports on 127.0.0.1, picked at run time (bind to port 0).
- ``waiting``: poll a real condition with a deadline (``wait_for`` raises, ``wait_until`` measures).
- ``zk_probe``: ZooKeeper four-letter words (``srvr``) and the mode a server reports.
- ``zk_client``: a started kazoo client that is always closed, the super user's digest, a
  recursive delete that tolerates absent nodes.
- ``ansible_run``: ansible-playbook and ad hoc modules run as users run them (the venv's
  binaries, no colours), and the localhost playbooks of tests/integration/playbooks that hand
  the module's result back in a file.
- ``mesos_scheduler``: a Mesos v1 scheduler HTTP API client written from the Mesos docs and
  protos (strict chunked + RecordIO framing, Mesos-Stream-Id, 307 to the leader,
  acknowledgements, reconciliation, event-driven waits).
- ``mesos_cluster``: masters and agents of the Mesos protocol double on free loopback ports
  (docker containerizer on the host's engine), and the tasks' containers and cgroups seen from
  the host.
- ``processes``: start a real server, wait until it serves, stop it (``serving``).
- ``grafana_dashboards``: the shipped dashboards as data (panels, queries), for the unit test
  and the lab's check against the real Prometheus.
- ``import_closure``: the module_utils a role copies, computed from the imports with ``ast``,
  and code that blocks ``ansible`` (the exporters and the zk_sync service run without it).

Tests and Molecule checks import it as ``ansible_collections.orchestrator.platform.tests.support``
(``. tools/env`` puts this checkout there); the benchmarks put the repository root on
``sys.path`` and import ``tests.support``, so that an engine run from another revision's
collection still gets this work tree's helpers. Inside tests/support and tests/fixtures,
imports between the two are relative for the same reason.
"""
