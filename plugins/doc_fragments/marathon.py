# Copyright (c) orchestrator.platform contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # How every Marathon module talks to Marathon (module_utils/_marathon.py on _http.py).
    DOCUMENTATION = r"""
options:
  urls:
    description:
      - Marathon instances to ask, as URLs (V(https://marathon1:8443)) or C(host:port) (port
        8080 when omitted, scheme C(http)). A path after the port is kept (Marathon behind a
        reverse proxy under a prefix).
      - Any instance will do. They are asked in the order given until one answers; an
        instance that cannot be reached or answers 502, 503 or 504 (no leader, starting) is
        passed over. A standby proxies requests to the leader; redirects are followed.
      - When none answers, the error lists what each one said.
    type: list
    elements: str
    required: true
  url_username:
    description:
      - User for HTTP basic authentication (Marathon started with C(--http_credentials)).
      - Sent with the first request, not only after a 401.
    type: str
    aliases: [username]
  url_password:
    description:
      - Password of O(url_username).
    type: str
    aliases: [password]
  validate_certs:
    description:
      - Verify Marathon's TLS certificate. Only turn off in a lab.
    type: bool
    default: true
  ca_path:
    description:
      - CA bundle (PEM) to verify Marathon's certificate with, instead of the system's.
    type: path
  client_cert:
    description:
      - Client certificate (PEM) for mutual TLS (for example with a TLS-terminating proxy in front of Marathon).
    type: path
  client_key:
    description:
      - Private key (PEM) of O(client_cert).
    type: path
  timeout:
    description:
      - Seconds to wait for each HTTP answer.
    type: float
    default: 10.0
  retries:
    description:
      - How many more rounds over all O(urls) when none of them answered (unreachable, or
        502/503/504 while Marathon elects a leader). Other answers are final. Writes are
        retried only when no Marathon handled them.
    type: int
    default: 3
  retry_delay:
    description:
      - Seconds between two rounds.
    type: float
    default: 1.0
notes:
  - HTTP goes through Python's C(urllib.request); proxies from the environment
    (C(http_proxy), C(https_proxy), C(no_proxy)) apply, and without O(url_username) the
    credentials for the host in C(~/.netrc) (or C($NETRC)) are sent, as Ansible's C(open_url) does.
    HTTPS verifies against O(ca_path), else the system's CA store (Python's C(ssl) defaults).
  - Written against Marathon's v2 REST API as documented for Marathon 1.7 to 1.10 (RAML, the
    AppDefinition schema and the upstream sources).
"""
