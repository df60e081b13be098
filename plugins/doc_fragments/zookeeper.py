# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # Servers to talk to: every ZooKeeper module (zk_info needs nothing more).
    DOCUMENTATION = r"""
options:
  hosts:
    description:
      - ZooKeeper connect string, comma-separated C(host:port) pairs, for example
        C(zk1:2181,zk2:2181,zk3:2181). The port defaults to 2181; IPv6 addresses go in brackets.
      - A chroot suffix (C(/mesos)) is honoured by modules that open a client session and
        ignored by modules that only read the servers' four-letter words.
    type: str
    required: true
  timeout:
    description:
      - Seconds to wait for a connection and for each answer.
      - For client modules this is also the requested session timeout (the server clamps it
        between 2 and 20 C(tickTime)).
    type: float
    default: 5.0
"""

    # Authentication and TLS for modules that use a ZooKeeper client session (kazoo).
    CLIENT = r"""
options:
  auth_scheme:
    description:
      - How to authenticate when O(auth_username) is set.
      - V(digest) adds a digest identity (C(addauth digest user:password)); the server does not
        check the password at this point, it only grants what the ACLs give that identity.
      - V(sasl) authenticates with SASL (needs the C(pure-sasl) Python library on the target).
    type: str
    choices: [digest, sasl]
    default: digest
  auth_username:
    description:
      - User to authenticate as. Without it the session is anonymous.
    type: str
  auth_password:
    description:
      - Password of O(auth_username).
    type: str
  sasl_mechanism:
    description:
      - SASL mechanism when O(auth_scheme=sasl).
    type: str
    choices: [DIGEST-MD5, GSSAPI]
    default: DIGEST-MD5
  sasl_service:
    description:
      - SASL service name when O(auth_scheme=sasl).
    type: str
    default: zookeeper
  use_ssl:
    description:
      - Connect with TLS (to the servers' C(secureClientPort)).
    type: bool
    default: false
  ca:
    description:
      - CA bundle (PEM) to verify the servers' certificates with, when O(use_ssl=true).
    type: path
  certfile:
    description:
      - Client certificate (PEM) for mutual TLS, when O(use_ssl=true).
    type: path
  keyfile:
    description:
      - Private key (PEM) of O(certfile).
    type: path
  keyfile_password:
    description:
      - Password of O(keyfile), if it is encrypted.
    type: str
  verify_certs:
    description:
      - Verify the servers' certificates when O(use_ssl=true). Only turn off in a lab.
    type: bool
    default: true
requirements:
  - kazoo >= 2.8 (Python library, on the host that runs the module)
"""
