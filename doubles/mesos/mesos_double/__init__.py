"""A PROTOCOL DOUBLE of Apache Mesos (master and agent) for orchestrator.platform tests and labs.

This is NOT Apache Mesos. It imitates Mesos where the collection touches it, from upstream
apache/mesos docs and sources (each module names the upstream files it follows), so that a
wrong role, module or client fails against it. Run it as

    python3 doubles/mesos/mesos_double master --zk=zk://127.0.0.1:2181/mesos --quorum=1 ...
    python3 doubles/mesos/mesos_double agent --master=zk://127.0.0.1:2181/mesos ...

or install it (Debian's python3 + python3-kazoo only) behind ``mesos-master`` /
``mesos-agent`` wrappers. Its parts, one module each:

- ``flags``, ``flag_table``: stout's flag loading; Mesos's flag names and defaults.
- ``common``: version and build markers, logging, addresses.
- ``zk``: ZooKeeper URLs, group membership, leader detection.
- ``resources``: resource and attribute parsing and models.
- ``web``: the HTTP server and the v1 API's request checks.
- ``master``, ``agent``: the two personalities.
- ``main``: the entry point.

See doubles/README.md for every simplification.
"""
