"""Provisioning files: an owner exports the config without secrets, staff import it with
`ticketbell --import FILE` and are told which tokens to add."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent import config
from tests.conftest import run_cli

PROVISIONING = """
role = "assistant"
start_at_login = true

[[sources]]
name = "Support desk"
kind = "freescout"
url = "https://help.example.com"
categories = ["Billing"]

[[sources]]
name = "Demo"
kind = "demo"

[windows]
default = "2h"
rules = [{ priority = "urgent", window = "10m" }]

[escalation]
levels = [{ after = "30m", notify = ["owner-desktop", "keyring:owner-mail"] }]
"""


def paths(env: dict[str, str]) -> tuple[Path, Path]:
    cfg = Path(env["XDG_CONFIG_HOME"]) / "ticketbell" / "ticketbell.toml"
    autostart = Path(env["XDG_CONFIG_HOME"]) / "autostart" / "ticketbell.desktop"
    return cfg, autostart


def test_import_writes_the_config_enables_autostart_and_names_the_tokens(tmp_path, cli_env):
    file = tmp_path / "team.toml"
    file.write_text(PROVISIONING, encoding="utf-8")

    result = run_cli(["--import", str(file)], cli_env)

    assert result.returncode == 0, result.stderr
    cfg_path, autostart_file = paths(cli_env)
    imported = config.load(cfg_path)
    assert [s.name for s in imported.sources] == ["Support desk", "Demo"]
    assert imported.sources[0].categories == ("Billing",)
    assert imported.escalation.levels[0].notify == ("owner-desktop", "keyring:owner-mail")
    assert autostart_file.is_file()
    assert "ticketbell secret set 'Support desk'" in result.stdout
    assert "ticketbell secret set owner-mail" in result.stdout
    assert "'Demo'" not in result.stdout  # the demo kind needs no token
    # and the imported config works: `config validate` accepts it
    assert run_cli(["config", "validate"], cli_env).returncode == 0


@pytest.mark.parametrize(
    ("snippet", "key"),
    [
        ('token = "abc123"', "sources[0].token"),
        ('api_key = "abc123"', "sources[0].api_key"),
        ('password = "hunter22"', "sources[0].password"),
        ('client_secret = "s3cr3t"', "sources[0].client_secret"),
    ],
)
def test_import_refuses_a_file_with_a_secret_and_writes_nothing(tmp_path, cli_env, snippet, key):
    file = tmp_path / "team.toml"
    file.write_text(PROVISIONING.replace('kind = "freescout"', f'kind = "freescout"\n{snippet}'))

    result = run_cli(["--import", str(file)], cli_env)

    assert result.returncode == 2
    assert f"team.toml: {key}: " in result.stderr
    assert "must not carry secrets" in result.stderr
    value = snippet.split('"')[1]
    assert value not in result.stderr and value not in result.stdout
    assert not paths(cli_env)[0].exists()


def test_import_refuses_a_channel_url_with_a_password(tmp_path, cli_env):
    file = tmp_path / "team.toml"
    file.write_text(PROVISIONING.replace('"keyring:owner-mail"', '"mailtos://me:pa55w0rd@x.org"'))
    result = run_cli(["--import", str(file)], cli_env)
    assert result.returncode == 2
    assert "escalation.levels[0].notify[1]: the URL carries a password" in result.stderr
    assert "pa55w0rd" not in result.stderr


def test_a_mail_server_port_and_from_address_are_no_password(tmp_path, cli_env):
    """``mailtos://host:587?from=bell@example.com`` has no password: the port's colon and the
    address's @ were taken for ``user:password@``, so the owner's e-mail channel was left out
    of `config export` and `--import` refused the file with "the URL carries a password"."""
    mail = "mailtos://smtp.example.com:587?from=bell@example.com&to=owner@example.com"
    assert config.secret_findings({"notify": [mail]}) == []
    owner = tmp_path / "owner.toml"
    owner.write_text(
        PROVISIONING.replace('role = "assistant"', 'role = "owner"').replace(
            '"keyring:owner-mail"', f'"{mail}"'
        )
    )
    exported = run_cli(["config", "export", "--config", str(owner)], cli_env)
    assert exported.returncode == 0, exported.stderr
    assert "Left out" not in exported.stdout
    data = config.tomllib.loads(exported.stdout)
    assert data["escalation"]["levels"][0]["notify"] == ["owner-desktop", mail]
    file = tmp_path / "team.toml"
    file.write_text(exported.stdout)
    imported = run_cli(["--import", str(file), "--accept-risky"], cli_env)
    assert imported.returncode == 0, imported.stderr
    assert config.load(paths(cli_env)[0]).escalation.levels[0].notify[1] == mail
    # a password is still one, also a numeric one and one before a port
    for url in ("mailtos://me:1234@x.org", "mailtos://me:pw@smtp.example.com:587?from=a@b.c"):
        assert config.secret_findings({"u": url}) == [("u", "the URL carries a password")]


def test_export_and_import_name_a_channels_keyring_entry_in_words(tmp_path, cli_env):
    """The export said "add the the escalation channel's URL", and --import printed that
    note in English whatever the language."""
    owner = tmp_path / "owner.toml"
    owner.write_text(PROVISIONING.replace('role = "assistant"', 'role = "owner"'))
    exported = run_cli(["config", "export", "--config", str(owner)], cli_env)
    assert exported.returncode == 0, exported.stderr
    wanted = "# After importing, add the URL of the escalation channel: ticketbell secret set"
    assert wanted in exported.stdout and "the the" not in exported.stdout
    file = tmp_path / "team.toml"
    file.write_text(PROVISIONING)
    german = run_cli(["--import", str(file)], {**cli_env, "LANGUAGE": "de"})
    assert german.returncode == 0, german.stderr
    line = next(ln for ln in german.stdout.splitlines() if "secret set owner-mail" in ln)
    assert "URL des Eskalationskanals" in line and "channel" not in line


def test_import_reports_a_broken_file_with_its_key(tmp_path, cli_env):
    file = tmp_path / "team.toml"
    file.write_text(PROVISIONING.replace('default = "2h"', 'default = "2 hourz"'))
    result = run_cli(["--import", str(file)], cli_env)
    assert result.returncode == 2
    assert "windows.default" in result.stderr
    assert not paths(cli_env)[0].exists()


def test_import_keeps_an_existing_config_unless_forced(tmp_path, cli_env):
    cfg_path, _ = paths(cli_env)
    cfg_path.parent.mkdir(parents=True)
    cfg_path.write_text('[[sources]]\nname = "Mine"\nkind = "demo"\n')
    file = tmp_path / "team.toml"
    file.write_text(PROVISIONING)

    refused = run_cli(["--import", str(file)], cli_env, stdin=subprocess.DEVNULL)
    assert refused.returncode == 2
    assert "already exists; run again with --force" in refused.stderr
    assert config.load(cfg_path).sources[0].name == "Mine"

    forced = run_cli(["--import", str(file), "--force"], cli_env)
    assert forced.returncode == 0, forced.stderr
    assert config.load(cfg_path).sources[0].name == "Support desk"
    backup = cfg_path.with_name("ticketbell.toml.bak")
    assert config.load(backup).sources[0].name == "Mine"
    assert f"the old config is kept as {backup}" in forced.stdout

    again = run_cli(["--import", str(file), "--force"], cli_env)  # the same file once more
    assert again.returncode == 0, again.stderr
    assert "kept as" not in again.stdout  # nothing was replaced, so no copy to speak of
    assert config.load(backup).sources[0].name == "Mine"  # the one copy is still the original


def test_export_leaves_out_secrets_and_imports_again(tmp_path, cli_env):
    owner = tmp_path / "owner.toml"
    owner.write_text(PROVISIONING.replace('role = "assistant"', 'role = "owner"'))
    exported = run_cli(["config", "export", "--config", str(owner)], cli_env)
    assert exported.returncode == 0, exported.stderr
    data = config.tomllib.loads(exported.stdout)
    assert data["role"] == "assistant"
    assert data["escalation"]["levels"][0]["notify"] == ["owner-desktop", "keyring:owner-mail"]
    assert config.secret_findings(data) == []

    file = tmp_path / "exported.toml"
    file.write_text(exported.stdout)
    imported = run_cli(["--import", str(file)], cli_env)
    assert imported.returncode == 0, imported.stderr
    assert config.load(paths(cli_env)[0]).sources[0].url == "https://help.example.com"


def test_a_config_with_a_channel_password_cannot_be_loaded_so_never_exported():
    with pytest.raises(config.ConfigError) as err:
        config.from_dict(
            {
                "sources": [{"name": "Demo", "kind": "demo"}],
                "escalation": {
                    "levels": [
                        {"after": "0m", "notify": ["owner-desktop"]},
                        {"after": "1h", "notify": ["ntfy://u:secretpw@ntfy.example.com/topic"]},
                    ]
                },
            }
        )
    assert "escalation.levels[1].notify[0]" in str(err.value)
    assert "secretpw" not in str(err.value)


def test_secret_env_names_a_variable_and_is_not_a_secret():
    data = {"sources": [{"name": "x", "kind": "github", "secret_env": "GH_TOKEN"}]}
    assert config.secret_findings(data) == []
    assert config.secret_findings({"sources": [{"auth_header": "X-Api-Key"}]}) == []
    assert config.secret_findings({"a": "https://h.example/api?access_token=zz"}) == [
        ("a", "the URL carries a token")
    ]


RISKY = (
    PROVISIONING.replace(
        'url = "https://help.example.com"',
        'url = "https://help.example.com"\nverify = false\nproxy = "http://proxy.example.net:3128"',
    )
    .replace("[escalation]\n", '[escalation]\nsent_by = "assistant"\n')
    .replace('"keyring:owner-mail"', '"ntfy://ntfy.example.com/escalations"')
)


def test_import_shows_tls_proxy_and_channel_settings_and_takes_them_only_when_accepted(
    tmp_path, cli_env
):
    file = tmp_path / "team.toml"
    file.write_text(RISKY, encoding="utf-8")

    refused = run_cli(["--import", str(file)], cli_env)
    assert refused.returncode == 2
    for words in (
        "Support desk: TLS certificates are not checked (verify = false)",
        "Support desk: all its traffic goes through the proxy http://proxy.example.net:3128",
        "escalations are sent from this computer to ntfy://ntfy.example.com/escalations",
        "--accept-risky",
    ):
        assert words in refused.stderr, refused.stderr
    assert not paths(cli_env)[0].exists()

    accepted = run_cli(["--import", str(file), "--accept-risky"], cli_env)
    assert accepted.returncode == 0, accepted.stderr
    assert config.load(paths(cli_env)[0]).sources[0].verify is False


def test_a_relative_ca_bundle_is_found_next_to_the_provisioning_file(tmp_path, cli_env):
    import trustme

    folder = tmp_path / "from-the-owner"
    folder.mkdir()
    trustme.CA().cert_pem.write_to_path(str(folder / "company-ca.pem"))
    file = folder / "team.toml"
    file.write_text(
        PROVISIONING.replace(
            'url = "https://help.example.com"',
            'url = "https://help.example.com"\nverify = "company-ca.pem"',
        )
    )

    result = run_cli(["--import", str(file), "--accept-risky"], cli_env)

    assert result.returncode == 0, result.stderr
    imported = config.load(paths(cli_env)[0])
    assert imported.sources[0].verify == str(folder / "company-ca.pem")
