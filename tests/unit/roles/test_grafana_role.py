"""The grafana role without a Grafana (none can be installed here: not in Debian, PyPI or npm).

What can be tested here is: the preflight refuses every incomplete or wrong installation
source, password and data source before anything is written, naming the variable to set (run
as the role runs, ``--tags grafana_preflight``), and verifies a download against its checksum;
the provisioning files and grafana.ini, rendered by Ansible from the role's defaults and vars,
have the structure and the field names Grafana's provisioning reader knows (apiVersion 1, from
Grafana's pkg/services/provisioning/datasources/types.go and its provisioning documentation).
The tarball source end to end (unpack, unit, /api/health) is NOT tested: there is no Grafana
tarball here, and a fake one would prove nothing about Grafana.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml
from ansible_collections.orchestrator.platform.tests.support.ansible_run import (
    render_role_template,
    run_local_play,
)

REPO = Path(__file__).resolve().parents[3]
ROLE = REPO / "roles" / "grafana"
PASSWORD = "s3cret-Adm1n;#pw"
GOOD_SHA = "sha256:" + "ab" * 32

# Field names of Grafana's provisioning files, apiVersion 1 (datasources: the yaml tags of
# upsertDataSourceFromConfigV1 / configsV1 in pkg/services/provisioning/datasources/types.go;
# dashboard providers: the provisioning documentation's provider example).
DATASOURCE_TOP = {"apiVersion", "datasources", "deleteDatasources", "prune"}
DATASOURCE_FIELDS = {
    "orgId",
    "orgName",
    "version",
    "name",
    "type",
    "access",
    "url",
    "user",
    "database",
    "basicAuth",
    "basicAuthUser",
    "withCredentials",
    "isDefault",
    "correlations",
    "jsonData",
    "secureJsonData",
    "editable",
    "uid",
}
PROVIDER_TOP = {"apiVersion", "providers"}
PROVIDER_FIELDS = {
    "name",
    "orgId",
    "folder",
    "folderUid",
    "type",
    "disableDeletion",
    "updateIntervalSeconds",
    "allowUiUpdates",
    "options",
}
PROVIDER_OPTIONS = {"path", "foldersFromFilesStructure"}

PREFLIGHT_PLAY = """
- name: The grafana role's preflight
  hosts: localhost
  gather_facts: false
  roles:
    - role: orchestrator.platform.grafana
"""


INVENTORY = """
localhost ansible_connection=local

[monitoring]
mon1 ansible_host=10.1.2.3
mon2
"""


def preflight(tmp_path: Path, variables: dict) -> subprocess.CompletedProcess[str]:
    return run_local_play(tmp_path, PREFLIGHT_PLAY, variables, "--tags", "grafana_preflight", inventory_text=INVENTORY)


def flat(text: str) -> str:
    """The output on one line, quotes unescaped: ansible-core 2.16 prints a failed task's message
    as JSON (\\"), 2.19 as YAML."""
    return " ".join(text.replace('\\"', '"').split())


# A complete, valid apt source and password: each refusal case spoils one thing.
VALID = {
    "grafana_install_source": "apt",
    "grafana_apt_repository_url": "https://apt.grafana.example",
    "grafana_package_version": "10.4.2",
    "grafana_admin_password": PASSWORD,
}


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (
            {"grafana_admin_password": PASSWORD},
            "grafana_install_source is not set: Grafana is in neither Debian, PyPI nor npm",
        ),
        ({**VALID, "grafana_package_version": ""}, "grafana_package_version (the exact version to pin, got '')"),
        ({**VALID, "grafana_apt_repository_url": ""}, "grafana_apt_repository_url (the repository's base URL, got '')"),
        (
            {
                **VALID,
                "grafana_install_source": "deb",
                "grafana_deb_file": "/tmp/grafana.deb",
                "grafana_deb_checksum": "md5:x",
            },
            "grafana_deb_checksum as \"sha256:<64 hex digits>\" (got 'md5:x')",
        ),
        (
            {
                **VALID,
                "grafana_install_source": "tarball",
                "grafana_tarball_url": "https://dl.example/grafana-10.4.2.linux-amd64.tar.gz",
            },
            "grafana_tarball_checksum as \"sha256:<64 hex digits>\" (got '')",
        ),
        ({**VALID, "grafana_admin_password": ""}, "grafana_admin_password must be set"),
        ({**VALID, "grafana_admin_password": "admin"}, "grafana_admin_password must be set"),
        (
            {**VALID, "grafana_prometheus_group": "nowhere"},
            "needs grafana_prometheus_url (an http(s) URL, got '') or a host in "
            "grafana_prometheus_group='nowhere' (0 host(s)",
        ),
        (
            {**VALID, "grafana_prometheus_basic_auth_user": "grafana"},
            "grafana_prometheus_basic_auth_password (both or neither)",
        ),
        ({**VALID, "grafana_install_source": "yum"}, "value of grafana_install_source must be one of"),
    ],
)
def test_the_preflight_refuses_naming_what_to_set(tmp_path: Path, variables: dict, expected: str) -> None:
    proc = preflight(tmp_path, variables)
    assert proc.returncode != 0
    assert expected in flat(proc.stdout), proc.stdout[-3000:]
    if "argument" not in expected and "one of" not in expected:
        assert "Nothing was changed." in flat(proc.stdout)
    assert PASSWORD not in proc.stdout


def make_tarball(tmp_path: Path) -> tuple[Path, str]:
    """A small tarball (NOT a Grafana: only the preflight's download and checksum are exercised)."""
    src = tmp_path / "content"
    src.mkdir()
    (src / "README").write_text("not grafana\n", encoding="ascii")
    tarball = tmp_path / "grafana-0.0.0.linux-amd64.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(src, arcname="grafana-v0.0.0")
    return tarball, "sha256:" + hashlib.sha256(tarball.read_bytes()).hexdigest()


def test_the_preflight_refuses_a_tarball_whose_checksum_differs_and_keeps_nothing(tmp_path: Path) -> None:
    tarball, _real = make_tarball(tmp_path)
    download = tmp_path / "downloaded.tar.gz"
    proc = preflight(
        tmp_path,
        {
            **VALID,
            "grafana_install_source": "tarball",
            "grafana_tarball_url": tarball.as_uri(),
            "grafana_tarball_checksum": GOOD_SHA,
            "_grafana_tarball_download": str(download),
        },
    )
    assert proc.returncode != 0
    assert (
        f"grafana_tarball_url={tarball.as_uri()} could not be fetched or does not match "
        f"grafana_tarball_checksum={GOOD_SHA}" in flat(proc.stdout)
    ), proc.stdout[-3000:]
    assert "Nothing was installed." in proc.stdout
    assert not download.exists()


def test_the_preflight_downloads_a_tarball_whose_checksum_matches(tmp_path: Path) -> None:
    tarball, real = make_tarball(tmp_path)
    download = tmp_path / "downloaded.tar.gz"
    proc = preflight(
        tmp_path,
        {
            **VALID,
            "grafana_install_source": "tarball",
            "grafana_tarball_url": tarball.as_uri(),
            "grafana_tarball_checksum": real,
            "_grafana_tarball_download": str(download),
        },
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert download.read_bytes() == tarball.read_bytes()


def test_the_preflight_refuses_a_controller_deb_whose_checksum_differs(tmp_path: Path) -> None:
    deb = tmp_path / "grafana_10.4.2_amd64.deb"
    deb.write_bytes(b"!<arch>\n")
    real = hashlib.sha256(deb.read_bytes()).hexdigest()
    proc = preflight(
        tmp_path,
        {**VALID, "grafana_install_source": "deb", "grafana_deb_file": str(deb), "grafana_deb_checksum": GOOD_SHA},
    )
    assert proc.returncode != 0
    assert (
        f"grafana_deb_file={deb} has sha256:{real}, not grafana_deb_checksum={GOOD_SHA}. Nothing was installed."
        in flat(proc.stdout)
    ), proc.stdout[-3000:]


def render(tmp_path: Path, template: str, variables: dict | None = None) -> Path:
    return render_role_template(ROLE, template, tmp_path, variables, inventory_text=INVENTORY)


def test_the_datasource_points_at_the_monitoring_hosts_prometheus(tmp_path: Path) -> None:
    doc = yaml.safe_load(render(tmp_path, "prometheus.yml.j2").read_text())
    assert set(doc) <= DATASOURCE_TOP
    assert doc["apiVersion"] == 1
    (source,) = doc["datasources"]
    assert set(source) <= DATASOURCE_FIELDS
    assert source["url"] == "http://10.1.2.3:9090"
    assert (source["type"], source["access"], source["uid"]) == ("prometheus", "proxy", "orchestrator-prometheus")
    assert source["isDefault"] is True
    assert source["editable"] is False
    assert source["basicAuth"] is False
    assert "secureJsonData" not in source
    assert source["jsonData"] == {"httpMethod": "POST", "timeInterval": "15s"}


def test_the_datasource_with_basic_auth_escapes_dollars(tmp_path: Path) -> None:
    doc = yaml.safe_load(
        render(
            tmp_path,
            "prometheus.yml.j2",
            {
                "grafana_prometheus_url": "https://prom.example:9443",
                "grafana_prometheus_basic_auth_user": "grafana",
                "grafana_prometheus_basic_auth_password": "pa$word",
            },
        ).read_text()
    )
    (source,) = doc["datasources"]
    assert set(source) <= DATASOURCE_FIELDS
    assert source["url"] == "https://prom.example:9443"
    assert source["basicAuth"] is True
    assert source["basicAuthUser"] == "grafana"
    # Grafana expands $VAR in provisioning values; "$$" is its escape for a literal "$".
    assert source["secureJsonData"] == {"basicAuthPassword": "pa$$word"}


def test_the_dashboard_provider_loads_the_dashboards_directory(tmp_path: Path) -> None:
    doc = yaml.safe_load(render(tmp_path, "orchestrator.yml.j2").read_text())
    assert set(doc) == PROVIDER_TOP
    assert doc["apiVersion"] == 1
    (provider,) = doc["providers"]
    assert set(provider) <= PROVIDER_FIELDS
    assert set(provider["options"]) <= PROVIDER_OPTIONS
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert provider["folder"] == "Orchestrator"
    assert isinstance(provider["updateIntervalSeconds"], int)


def test_grafana_ini_holds_the_settings_and_the_password_triple_quoted(tmp_path: Path) -> None:
    text = render(
        tmp_path,
        "grafana.ini.j2",
        {
            "grafana_admin_password": PASSWORD,
            "grafana_http_port": 3300,
            "grafana_ini_extra": {"auth.anonymous": {"enabled": True}, "server": {"enable_gzip": True}},
        },
    ).read_text()
    ini = configparser.ConfigParser(interpolation=None, comment_prefixes=(";", "#"), inline_comment_prefixes=None)
    ini.read_string(text)
    assert ini["security"]["admin_password"] == f'"""{PASSWORD}"""'
    assert ini["security"]["admin_user"] == "admin"
    assert ini["server"]["http_port"] == "3300"
    assert ini["server"]["enable_gzip"] == "true"
    assert ini["auth.anonymous"]["enabled"] == "true"
    assert ini["paths"]["provisioning"] == "/etc/grafana/provisioning"
    assert ini["users"]["allow_sign_up"] == "false"


def test_the_dashboards_directory_ships_dashboards_and_a_readme() -> None:
    shipped = sorted(p.name for p in (ROLE / "files" / "dashboards").iterdir())
    assert "README.md" in shipped
    assert len([name for name in shipped if name.endswith(".json")]) == 5, shipped
    for name in shipped:
        if name.endswith(".json"):
            dashboard = json.loads((ROLE / "files" / "dashboards" / name).read_text())
            assert dashboard.get("title") and dashboard.get("uid"), name
        else:
            assert name == "README.md"
    assert re.search(r"orchestrator-prometheus", (ROLE / "files" / "dashboards" / "README.md").read_text())
