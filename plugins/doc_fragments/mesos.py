# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # How every Mesos module finds and talks to the masters (module_utils/_mesos.py).
    DOCUMENTATION = r"""
options:
  masters:
    description:
      - Mesos masters to ask, as URLs (V(https://m1:5050)) or C(host:port) (port 5050 when
        omitted; scheme from O(scheme)).
      - Any master will do. A master that is not the leader answers with a redirect to the
        leader, which is followed.
      - At least one of O(masters) and O(zk) is required.
    type: list
    elements: str
  zk:
    description:
      - The ZooKeeper URL the masters were started with (their C(--zk)), for example
        V(zk://zk1:2181,zk2:2181,zk3:2181/mesos), with optional digest credentials
        (V(zk://user:password@zk1:2181/mesos)).
      - The leader is the master whose C(json.info_<sequence>) znode under that path has the
        lowest sequence number. Reading it needs the C(kazoo) Python library on the target.
    type: str
  scheme:
    description:
      - Scheme for masters given as C(host:port) and for masters found in ZooKeeper.
      - Redirects from Mesos are scheme-relative (C(//host:port)) and keep the scheme of the request.
    type: str
    choices: [http, https]
    default: http
  url_username:
    description:
      - Principal for Mesos HTTP basic authentication (masters started with
        C(--authenticate_http_readonly) or C(--authenticate_http_readwrite)).
      - Sent with the first request, not only after a 401.
    type: str
    aliases: [username]
  url_password:
    description:
      - Secret of O(url_username).
    type: str
    aliases: [password]
  validate_certs:
    description:
      - Verify the masters' TLS certificates. Only turn off in a lab.
    type: bool
    default: true
  ca_path:
    description:
      - CA bundle (PEM) to verify the masters' certificates with, instead of the system's.
    type: path
  client_cert:
    description:
      - Client certificate (PEM) for mutual TLS.
    type: path
  client_key:
    description:
      - Private key (PEM) of O(client_cert).
    type: path
  timeout:
    description:
      - Seconds to wait for each HTTP answer (and for the ZooKeeper connection).
    type: float
    default: 10.0
  retries:
    description:
      - How many more times to try when a master cannot be reached, times out or answers
        502/503/504 (for example while the masters elect a leader). Other answers are final.
    type: int
    default: 3
  retry_delay:
    description:
      - Seconds between two tries.
    type: float
    default: 1.0
notes:
  - HTTP goes through Python's C(urllib.request); proxies from the environment
    (C(http_proxy), C(https_proxy), C(no_proxy)) apply, and without O(url_username) the
    credentials for the host in C(~/.netrc) (or C($NETRC)) are sent, as Ansible's C(open_url) does.
    HTTPS verifies against O(ca_path), else the system's CA store (Python's C(ssl) defaults).
"""
