"""A PROTOCOL DOUBLE of Marathon 1.10 for orchestrator.platform tests and labs.

This is NOT Marathon. It imitates Marathon 1.10 where the collection touches it, from
mesosphere/marathon's sources and docs (tag v1.10.26; each module names the upstream files it
follows), so that a wrong role, module or client fails against it. Run it as

    python3 doubles/marathon/marathon_double --master=zk://127.0.0.1:2181/mesos \
        --zk=zk://127.0.0.1:2181/marathon --http_port=8080 --hostname=127.0.0.1

or install it (Debian's python3 + python3-kazoo only) behind a ``marathon`` wrapper. Parts:

- ``flags``: Scallop-style command line and ``MARATHON_*`` environment (Main.envToArgs).
- ``common``: banner, version, logging, timestamps, exit codes (CrashStrategy).
- ``zkstore``: leader latch (Curator LeaderLatch layout) and the state kept in ZooKeeper.
- ``web``: HTTP server, Server-Sent Events, the leader proxy (LeaderProxyFilter).
- ``apps``: app definitions: JSON reads, normalisation, validation (AppValidation), updates.
- ``api``: the REST v2 resources (apps, tasks, deployments, queue, leader, info, metrics).
- ``mesos_client``: a small v1 scheduler HTTP API client (RecordIO stream, calls).
- ``scheduler``: instances, offer matching, DOCKER task building, status updates, backoff.
- ``deployments``: deployment plans and their execution (DeploymentPlan, TaskReplaceActor).
- ``events``: the event bus and its event JSON (core/event/Events.scala).
- ``main``: the entry point.

See doubles/README.md for every simplification.
"""
