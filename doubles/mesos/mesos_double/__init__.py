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
- ``web``: the HTTP server (streamed, chunked answers) and the v1 API's request checks.
- ``protojson``, ``recordio``: stout's JSON-to-protobuf rules and texts; RecordIO framing.
- ``channel``: the double's own master<->agent messages (in place of libprocess).
- ``master``: the master personality (election, agents, endpoints, metrics), with
  ``maintenance``, ``operator_api`` (v1 operator calls), ``scheduler`` (the v1 scheduler API,
  subscriptions and framework failover), ``frameworks`` (framework and task models),
  ``allocator`` (offers, filters, DRF order) and ``master_tasks`` (ACCEPT, task validation,
  status updates, agent tasks).
- ``agent``: the agent personality (registration, recovery, endpoints), with ``agent_tasks``
  (run/kill/shutdown, checkpoints, state), ``containerizer`` (the Docker containerizer's run
  options, pulls, orphans), ``docker_engine`` (the Engine API over its unix socket),
  ``executor`` (the docker executor's task lifecycle), ``health`` (health checks) and
  ``status_updates`` (retries until acknowledged).
- ``main``: the entry point.

See doubles/README.md for every simplification.
"""
