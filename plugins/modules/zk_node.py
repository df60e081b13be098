#!/usr/bin/python
# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: zk_node
short_description: Manage a ZooKeeper znode, its data and its ACL
version_added: 0.1.0
description:
  - Creates, updates or deletes a znode. Reads the node first and writes only what differs;
    data is compared as bytes, ACLs as sets (order does not matter).
  - Creating a node (with its missing parents when O(create_parents=true)) is one ZooKeeper
    C(multi) transaction, so either everything is created with its data and ACL, or nothing.
  - Updating an existing node's data and ACL together takes two writes (ZooKeeper's C(multi)
    cannot carry C(setACL)); each is guarded by the version read before, data first, so a
    concurrent change makes the task fail instead of overwriting it.
  - Deleting with O(recursive=true) removes the subtree deepest first in C(multi) batches of
    at most 1000 operations and O(max_value_size) bytes (one transaction for trees up to that
    size; long paths make smaller batches).
  - Invalid input (a relative path, an unknown ACL permission, a value larger than
    O(max_value_size)) is reported before anything is sent to ZooKeeper.
author:
  - orchestrator.platform maintainers (@orchestrator-platform)
extends_documentation_fragment:
  - orchestrator.platform.zookeeper
  - orchestrator.platform.zookeeper.client
  - orchestrator.platform.attributes
attributes:
  check_mode:
    support: full
    details: Reads the node and reports what would change without writing.
  diff_mode:
    support: full
    details: Reports the node's value and ACL before and after.
  idempotent:
    support: full
    details: A second run with the same options changes nothing.
options:
  path:
    description:
      - Absolute path of the znode, for example C(/mesos). No trailing slash, no empty, C(.) or
        C(..) components.
    type: str
    required: true
  state:
    description:
      - V(present) creates the node or updates its data and ACL; V(absent) deletes it.
      - V(absent) is refused for C(/), C(/zookeeper) and everything below C(/zookeeper).
    type: str
    choices: [present, absent]
    default: present
  value:
    description:
      - Data of the node as text (stored UTF-8 encoded).
      - When neither O(value) nor O(value_b64) is given, an existing node's data is left alone
        and a new node is created empty.
    type: str
  value_b64:
    description:
      - Data of the node as base64, for binary values.
    type: str
  max_value_size:
    description:
      - The servers' C(jute.maxbuffer) in bytes (ZooKeeper's default is 1048575). ZooKeeper drops
        the connection on a request larger than that, so the module refuses, before sending
        anything, a value larger than this, or whose whole request (value plus path, ACL and
        headers, a few dozen bytes) would be.
      - Raise it only together with the servers' (and clients') C(jute.maxbuffer).
      - O(recursive=true) cuts its C(multi) deletes to fit it, and fails before deleting
        anything when one path alone would not fit.
    type: int
    default: 1048575
  create_parents:
    description:
      - Create missing parent nodes (empty, with the same ACL as the node, or open when O(acl)
        is not given) in the same transaction as the node.
      - When false, a missing parent is an error.
    type: bool
    default: false
  recursive:
    description:
      - With O(state=absent), delete the node's children too. Without it a node with children
        is not deleted and the task fails.
    type: bool
    default: false
  acl:
    description:
      - The complete ACL of the node. When given, the node's ACL is made exactly this list
        (order does not matter); when omitted, an existing node's ACL is left alone and a new
        node gets C(world:anyone:cdrwa).
      - Careful not to take away your own C(a) (admin) permission.
    type: list
    elements: dict
    suboptions:
      scheme:
        description:
          - V(world) (id C(anyone)), V(digest) (id C(user:base64(sha1(user:password))) or
            O(acl[].username)/O(acl[].password)), V(ip) (address or C(address/bits)), V(auth)
            (the identity this task authenticates as, see O(auth_username)), V(sasl), V(x509).
        type: str
        choices: [world, digest, ip, auth, sasl, x509]
        default: world
      id:
        description:
          - Id within the scheme. Defaults to C(anyone) for V(world); ignored for V(auth).
        type: str
      username:
        description:
          - For V(digest), the user; the id is computed from it and O(acl[].password).
        type: str
      password:
        description:
          - For V(digest), the password of O(acl[].username).
        type: str
      perms:
        description:
          - Permissions, letters from C(rwcda) in any order (r read, w write, c create,
            d delete, a admin), or C(all).
        type: str
        required: true
notes:
  - Deleting the node with O(recursive=true) while other clients create children under it
    fails the task (nothing of the failed batch is deleted); re-run it.
"""

EXAMPLES = r"""
- name: Create /mesos readable by everyone, writable only by the mesos user
  orchestrator.platform.zk_node:
    hosts: zk1:2181,zk2:2181,zk3:2181
    path: /mesos
    acl:
      - scheme: world
        perms: r
      - scheme: digest
        username: mesos
        password: "{{ vault_zk_mesos_password }}"
        perms: rwcda

- name: Store a value, creating the parents in the same transaction
  orchestrator.platform.zk_node:
    hosts: "{{ zk_hosts }}"
    path: /config/app/feature-x
    value: "enabled"
    create_parents: true
    auth_username: admin
    auth_password: "{{ vault_zk_admin_password }}"

- name: Store binary data
  orchestrator.platform.zk_node:
    hosts: "{{ zk_hosts }}"
    path: /config/app/blob
    value_b64: "{{ lookup('ansible.builtin.file', 'blob.bin') | b64encode }}"

- name: Remove a subtree
  orchestrator.platform.zk_node:
    hosts: "{{ zk_hosts }}"
    path: /config/old-app
    state: absent
    recursive: true
"""

RETURN = r"""
path:
  description: The node's path.
  returned: always
  type: str
  sample: /mesos
exists:
  description: Whether the node exists after the task (would exist, in check mode).
  returned: always
  type: bool
  sample: true
value:
  description: The node's data as text; null when absent or not valid UTF-8 (see RV(value_b64)).
  returned: always
  type: str
  sample: enabled
value_b64:
  description: The node's data as base64; null when absent.
  returned: always
  type: str
  sample: ZW5hYmxlZA==
stat:
  description: The node's stat after the task; empty when absent (or not yet created, in check mode).
  returned: always
  type: dict
  sample:
    version: 1
    cversion: 0
    aversion: 0
    ctime: 1764135600000
    mtime: 1764135601000
    czxid: 4294967300
    mzxid: 4294967301
    pzxid: 4294967300
    ephemeral_owner: 0
    data_length: 7
    num_children: 0
    numChildren: 0
acl:
  description:
    - The node's ACL after the task, sorted; empty when absent.
    - ZooKeeper shows digest ids as C(user:x) to clients without the C(a) permission on the node.
  returned: always
  type: list
  elements: dict
  sample:
    - scheme: digest
      id: mesos:Y2hhbmdlbWU=
      perms: cdrwa
    - scheme: world
      id: anyone
      perms: r
created:
  description: Paths created (parents first).
  returned: always
  type: list
  elements: str
  sample: [/config, /config/app]
deleted:
  description: Paths deleted (deepest first).
  returned: always
  type: list
  elements: str
  sample: [/config/old-app/a, /config/old-app]
diff:
  description: Value and ACL before and after, in diff mode (C(--diff)).
  returned: when diff mode is on
  type: dict
  sample:
    before: {path: /x, state: absent}
    after: {path: /x, state: present, value: "1", acl: [{scheme: world, id: anyone, perms: cdrwa}]}
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.orchestrator.platform.plugins.module_utils import _zk

MULTI_BATCH = 1000


def argument_spec() -> dict:
    spec = _zk.zookeeper_argument_spec()
    spec.update(
        path={"type": "str", "required": True},
        state={"type": "str", "choices": ["present", "absent"], "default": "present"},
        value={"type": "str"},
        value_b64={"type": "str"},
        max_value_size={"type": "int", "default": _zk.DEFAULT_MAX_VALUE_SIZE},
        create_parents={"type": "bool", "default": False},
        recursive={"type": "bool", "default": False},
        acl={
            "type": "list",
            "elements": "dict",
            "options": {
                "scheme": {
                    "type": "str",
                    "choices": list(_zk.ACL_SCHEMES),
                    "default": "world",
                },
                "id": {"type": "str"},
                "username": {"type": "str"},
                "password": {"type": "str", "no_log": True},
                "perms": {"type": "str", "required": True},
            },
        },
    )
    return spec


def validate(params: dict) -> tuple[str, bytes | None, list[dict] | None]:
    """Check every input before connecting; raises ZkError naming the field."""
    path = _zk.validate_path(params["path"])
    if params["timeout"] <= 0:
        raise _zk.ZkError("timeout: must be more than 0 seconds")
    if params["max_value_size"] < 0:
        raise _zk.ZkError("max_value_size: must not be negative")
    data = _zk.value_to_bytes(params["value"], params["value_b64"])
    if data is not None and len(data) > params["max_value_size"]:
        field = "value" if params["value"] is not None else "value_b64"
        raise _zk.ZkError(
            f"{field}: {len(data)} bytes exceed max_value_size {params['max_value_size']} "
            "(ZooKeeper refuses packets over jute.maxbuffer); nothing was written"
        )
    identities = _zk.auth_identities(params["auth_scheme"], params["auth_username"], params["auth_password"])
    acl = _zk.normalize_acl(params["acl"], identities) if params["acl"] is not None else None
    if params["state"] == "absent":
        if _zk.is_protected(path):
            raise _zk.ZkError(
                f"path: refusing to delete {path!r}: '/' and '/zookeeper' (with everything below it) "
                "belong to ZooKeeper itself"
            )
        for field in ("value", "value_b64", "acl"):
            if params[field] is not None:
                raise _zk.ZkError(f"{field}: not used with state=absent; remove it")
    return path, data, acl


def node_view(path: str, data: bytes | None, stat: object, acl: list[dict] | None, exists: bool) -> dict:
    view = {"path": path, "exists": exists, "stat": _zk.stat_to_dict(stat) if exists else {}}
    view.update(_zk.describe_value(data if exists else None))
    view["acl"] = acl if exists and acl is not None else []
    return view


def diff_view(view: dict) -> dict:
    if not view["exists"]:
        return {"path": view["path"], "state": "absent"}
    out = {"path": view["path"], "state": "present", "acl": view["acl"]}
    if view["value"] is not None:
        out["value"] = view["value"]
    else:
        out["value_b64"] = view["value_b64"]
    return out


def commit(client, txn) -> list:
    """Commit a kazoo transaction; raise the error that made it roll back."""
    results = txn.commit()
    for res in results:
        if isinstance(res, Exception) and not isinstance(res, _zk.kazoo_exceptions.RolledBackError):
            raise res
    return results


def check_request_size(module: AnsibleModule, size: int, data: bytes | None) -> None:
    limit = module.params["max_value_size"]
    if size > limit:
        field = "value_b64" if module.params["value_b64"] is not None else "value"
        raise _zk.ZkError(
            f"{field}: the request would be {size} bytes ({len(data or b'')} of data plus path, ACL and "
            f"headers), more than max_value_size {limit} (the servers' jute.maxbuffer); nothing was written"
        )


def read(client, path: str) -> tuple[bytes | None, object, list[dict] | None, bool]:
    if client.exists(path) is None:
        return None, None, None, False
    data, stat = client.get(path)
    acls = client.get_acls(path)[0]
    return data, stat, _zk.acl_from_kazoo(acls), True


def create(module: AnsibleModule, client, path: str, data: bytes | None, acl: list[dict] | None) -> tuple[dict, list]:
    """Create the node (and its missing parents) in one multi; returns (after view, created paths)."""
    missing = [p for p in _zk.parent_paths(path) if client.exists(p) is None]
    if missing and not module.params["create_parents"]:
        raise _zk.ZkError(
            f"path: parent {missing[0]} of {path} does not exist; create it first or set create_parents: true"
        )
    new_acl = acl if acl is not None else _zk.normalize_acl([{"scheme": "world", "perms": "all"}])
    kazoo_acl = _zk.acl_to_kazoo(new_acl)
    creates = [(parent, b"", kazoo_acl) for parent in missing] + [(path, data or b"", kazoo_acl)]
    check_request_size(module, _zk.multi_create_size(creates), data)
    if module.check_mode:
        after = node_view(path, data or b"", None, new_acl, True)
        after["stat"] = {}
    else:
        txn = client.transaction()
        for node, node_data, node_acl in creates:
            txn.create(node, node_data, acl=node_acl)
        commit(client, txn)
        after = node_view(path, *read(client, path))
    return after, [*missing, path]


def update(
    module: AnsibleModule, client, path: str, data: bytes | None, acl: list[dict] | None, *, current: tuple
) -> tuple[dict, bool]:
    """Bring an existing node's data and ACL to what was asked; returns (after view, changed)."""
    cur_data, stat, cur_acl, _exists = current
    data_changed = data is not None and data != cur_data
    acl_changed = acl is not None and not _zk.acl_equal(acl, cur_acl or [])
    if data_changed:
        check_request_size(module, _zk.set_data_size(path, data or b""), data)
    if not (data_changed or acl_changed):
        return node_view(path, cur_data, stat, cur_acl, True), False
    if module.check_mode:
        return node_view(path, data if data_changed else cur_data, stat, acl if acl_changed else cur_acl, True), True
    # ZooKeeper's multi cannot carry setACL: two writes, each guarded by the version read above.
    # Data first: both writes are then authorized against the ACL the node had when read.
    if data_changed:
        client.set(path, data, version=stat.version)
    if acl_changed:
        client.set_acls(path, _zk.acl_to_kazoo(acl or []), version=stat.aversion)
    return node_view(path, *read(client, path)), True


def ensure_present(module: AnsibleModule, client, path: str, data: bytes | None, acl: list[dict] | None) -> dict:
    result: dict = {"changed": False, "created": [], "deleted": []}
    current = read(client, path)
    before = node_view(path, *current)
    if not current[3]:
        after, result["created"] = create(module, client, path, data, acl)
        result["changed"] = True
    else:
        after, result["changed"] = update(module, client, path, data, acl, current=current)
    result.update(after)
    if module._diff:
        result["diff"] = {"before": diff_view(before), "after": diff_view(after)}
    return result


def subtree(client, path: str) -> list[str]:
    """Every path of the subtree, deepest first (children before their parent)."""
    order: list[str] = []
    stack = [path]
    while stack:
        node = stack.pop()
        order.append(node)
        prefix = node if node != "/" else ""
        stack.extend(f"{prefix}/{child}" for child in client.get_children(node))
    return sorted(order, key=lambda p: p.count("/"), reverse=True)


def ensure_absent(module: AnsibleModule, client, path: str) -> dict:
    result: dict = {"changed": False, "created": [], "deleted": []}
    cur_data, stat, cur_acl, exists = read(client, path)
    before = node_view(path, cur_data, stat, cur_acl, exists)
    if exists:
        victims = subtree(client, path)
        if len(victims) > 1 and not module.params["recursive"]:
            raise _zk.ZkError(
                f"path: {path} has {len(victims) - 1} descendant(s); set recursive: true to delete them too "
                "(nothing was deleted)"
            )
        result["changed"] = True
        result["deleted"] = victims
        # cut by bytes too: a batch of long paths over jute.maxbuffer is dropped by the server
        batches = _zk.delete_batches(victims, module.params["max_value_size"], MULTI_BATCH)
        if not module.check_mode:
            for batch in batches:
                txn = client.transaction()
                for victim in batch:
                    txn.delete(victim)
                commit(client, txn)
    result.update(node_view(path, None, None, None, False))
    if module._diff:
        result["diff"] = {"before": diff_view(before), "after": diff_view(node_view(path, None, None, None, False))}
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[["value", "value_b64"]],
        required_together=_zk.zookeeper_required_together(),
        supports_check_mode=True,
    )
    params = module.params
    try:
        path, data, acl = validate(params)
    except _zk.ZkError as exc:
        module.fail_json(msg=str(exc))
    missing = _zk.missing_library(module.params)
    if missing is not None:
        module.fail_json(msg=missing_required_lib(missing[0]), exception=missing[1])
    client = None
    try:
        client = _zk.connect(params)
        if params["state"] == "present":
            result = ensure_present(module, client, path, data, acl)
        else:
            result = ensure_absent(module, client, path)
    except _zk.ZkError as exc:
        module.fail_json(msg=str(exc), path=path)
    except Exception as exc:
        module.fail_json(msg=_zk.explain(exc, path, params), path=path, exception=traceback.format_exc())
    finally:
        _zk.close(client)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
