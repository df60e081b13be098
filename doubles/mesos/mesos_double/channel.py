"""The double's own master<->agent channel (NOT Mesos's libprocess protocol).

Real Mesos masters and agents talk libprocess messages (src/messages/messages.proto:
RunTaskMessage, KillTaskMessage, ShutdownFrameworkMessage, StatusUpdateMessage,
StatusUpdateAcknowledgementMessage, ReregisterSlaveMessage ...). Nothing outside Mesos speaks
that protocol to a master or an agent, so the double replaces it with small JSON POSTs over HTTP
that carry the same messages. Every payload uses the v1 JSON of include/mesos/v1/mesos.proto
(``{"value": ...}`` ids, TaskInfo, TaskStatus, FrameworkInfo), exactly as the scheduler API
carries them, so nothing is translated twice.

Agent -> leading master, ``POST http://<master>/__double__/agent/<action>``:

- ``register``: ``{"info": SlaveInfo, "pid", "version", "capabilities", "incarnation",
  "tasks": [Task], "frameworks": [FrameworkInfo]}`` (``tasks``/``frameworks``: what the agent
  runs, on re-registration; ReregisterSlaveMessage). Answer ``{"id", "master_id"}``.
- ``ping``, ``disconnect``: ``{"id": <agent id>}``.
- ``status_update``: ``{"id": <agent id>, "update": {"framework_id": FrameworkID,
  "status": TaskStatus}}``: StatusUpdateMessage. ``status.uuid`` (base64 of 16 bytes) is set
  on every update the agent wants acknowledged; the master forwards it to the framework as an
  UPDATE event and the framework's ACKNOWLEDGE back to the agent. ``update.latest_state``
  (optional) is the task's latest state when the update is an older, re-sent one
  (StatusUpdateMessage's ``latest_state``). Answer ``{}``.

Leading master -> agent, ``POST http://<agent ip:port>/__double__/master/<action>``:

- ``run_task``: ``{"master_id", "framework": FrameworkInfo (with id), "task": TaskInfo (with
  agent_id)}``: RunTaskMessage. The agent answers ``{}`` at once and reports the task's states
  with status updates (TASK_STARTING, TASK_RUNNING, ... or TASK_FAILED with the reason).
- ``kill_task``: ``{"framework_id", "task_id", "kill_policy": KillPolicy | absent}``.
- ``shutdown_framework``: ``{"framework_id"}``: kill every task of the framework, forget it.
- ``acknowledge``: ``{"framework_id", "task_id", "uuid"}``: StatusUpdateAcknowledgementMessage;
  the agent stops retrying that update and sends the task's next pending one.
- ``reconcile_tasks``: ``{"framework_id", "tasks": [TaskID], "framework": FrameworkInfo
  (optional)}``: ReconcileTasksMessage; answer ``{"reconciled": [TaskID]}``.

Every answer is JSON; an agent that does not know the framework or task answers 404
``{"error": ...}`` (and still sends upstream's TASK_DROPPED/TASK_LOST update for an unknown task
of a known framework); a message from a master other than the one it registered with gets 403;
a duplicate executor or a terminating framework gets 409. Channel calls time out after
``CHANNEL_TIMEOUT`` seconds; the sender retries where upstream retries (status updates) and
otherwise logs and goes on.
"""

from __future__ import annotations

AGENT_TO_MASTER = "/__double__/agent"
MASTER_TO_AGENT = "/__double__/master"
CHANNEL_TIMEOUT = 3.0

# src/slave/constants.hpp: STATUS_UPDATE_RETRY_INTERVAL_MIN = 10secs, doubled up to
# STATUS_UPDATE_RETRY_INTERVAL_MAX = 10mins while an update waits for its acknowledgement.
STATUS_UPDATE_RETRY_INTERVAL_MIN = 10.0
STATUS_UPDATE_RETRY_INTERVAL_MAX = 600.0
