"""A computer with no keyring service: the advice in plain words, and the token kept, after the
person accepts a warning, in a file only they can read (agent.secrets.token_file). And a
source renamed: its token follows it, in the keyring or in that file."""

from __future__ import annotations

import stat

import keyring
import pytest
from keyring.backends import fail

from agent import secrets as secret_store
from tests.conftest import run_cli

TOKEN = "no-keyring-TOKEN-7c1d2e"


@pytest.fixture
def no_keyring(tmp_path, monkeypatch):
    """No keyring service, and a config folder of this test's own."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield secret_store.token_file()
    keyring.set_keyring(before)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_without_a_keyring_the_advice_is_plain_and_nothing_is_written(no_keyring) -> None:
    with pytest.raises(secret_store.NoKeyring) as caught:
        secret_store.set("Support", TOKEN)
    advice = str(caught.value)
    assert "no keyring service" in advice and "GNOME Keyring" in advice
    assert str(no_keyring) in advice and "only your user account can read" in advice
    assert TOKEN not in advice
    assert not no_keyring.exists()
    assert secret_store.stored("Support") == ""


def test_the_private_file_is_the_users_only_and_serves_the_token(no_keyring) -> None:
    where = secret_store.set("Support", TOKEN, to_file=True)
    assert where.startswith(f"in {no_keyring}")
    assert mode(no_keyring) == 0o600 and mode(no_keyring.parent) == 0o700
    assert secret_store.get("Support") == TOKEN
    assert secret_store.stored("Support") == "a private file"
    # the file chosen once is used for the next token too (a sign-in's refresh token)
    secret_store.set("Other desk", "second-TOKEN-99aa21")
    assert secret_store.get("Other desk") == "second-TOKEN-99aa21"
    no_keyring.chmod(0o644)  # made readable by someone: put right when next read
    assert secret_store.get("Support") == TOKEN
    assert mode(no_keyring) == 0o600
    secret_store.delete("Support")
    with pytest.raises(secret_store.SecretUnavailable, match="no keyring service to read"):
        secret_store.get("Support")
    assert secret_store.get("Other desk") == "second-TOKEN-99aa21"


def test_a_keyring_that_works_again_takes_the_token_out_of_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        secret_store.set("Support", TOKEN, to_file=True)
    finally:
        keyring.set_keyring(before)
    secret_store.set("Support", "keyring-TOKEN-4b4b4b")
    assert secret_store.get("Support") == "keyring-TOKEN-4b4b4b"
    assert "Support" not in secret_store.token_file().read_text()


def test_cli_says_what_to_do_and_stores_to_the_file_when_asked(tmp_path, cli_env) -> None:
    cli_env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    refused = run_cli(["secret", "set", "Support"], cli_env, input=TOKEN + "\n")
    assert refused.returncode == 2
    assert "no keyring service" in refused.stderr and "--to-file" in refused.stderr
    stored = run_cli(["secret", "set", "Support", "--to-file"], cli_env, input=TOKEN + "\n")
    assert stored.returncode == 0, stored.stderr
    path = tmp_path / "xdg_config_home" / "ticketbell" / secret_store.FILE_NAME
    assert f"stored the secret of 'Support' in {path}" in stored.stdout
    assert mode(path) == 0o600
    conf = tmp_path / "xdg_config_home" / "ticketbell" / "ticketbell.toml"
    conf.write_text(
        '[[sources]]\nname = "Support"\nkind = "freescout"\nurl = "https://help.example.com"\n'
    )
    shown = run_cli(["config", "show"], cli_env)
    assert f"in {path}" in shown.stdout, shown.stdout + shown.stderr


def test_a_plain_text_keyring_picked_for_want_of_a_keyring_is_not_used(tmp_path, cli_env):
    """keyrings.alt installed (as in `make run`'s venv) and no keyring service answering: keyring
    picks its plain-text file on its own, and the token went there "in the keyring"."""
    for name in ("PYTHON_KEYRING_BACKEND", "DBUS_SESSION_BUS_ADDRESS"):
        cli_env.pop(name, None)  # no backend named, no Secret Service to find
    cli_env["HOME"] = str(tmp_path / "home")
    refused = run_cli(["secret", "set", "Support"], cli_env, input=TOKEN + "\n")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "no keyring service" in refused.stderr and "--to-file" in refused.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file() and TOKEN in p.read_text("latin-1")]
    assert written == []
    check = run_cli(["--self-test"], cli_env)
    line = next(x for x in check.stdout.splitlines() if x.split()[1:2] == ["keyring"])
    assert line.startswith("WARN") and "PlaintextKeyring keeps tokens as plain text" in line, line
    # named on purpose (as the tests do), it is the keyring asked for
    cli_env["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
    chosen = run_cli(["secret", "set", "Support"], cli_env, input=TOKEN + "\n")
    assert chosen.returncode == 0 and "in the keyring" in chosen.stdout, chosen.stderr


def test_a_renamed_source_keeps_its_token_in_the_private_file(no_keyring) -> None:
    secret_store.set("Support", TOKEN, to_file=True)
    assert secret_store.rename("Support", "Support EU")
    assert secret_store.get("Support EU") == TOKEN
    assert secret_store.stored("Support EU") == "a private file"
    assert secret_store.stored("Support") == ""
    secret_store.set("Sales", "sales-TOKEN-5d0e11", to_file=True)
    assert not secret_store.rename("Sales", "Support EU")  # never over another source's token
    assert secret_store.get("Support EU") == TOKEN
    assert secret_store.get("Sales") == "sales-TOKEN-5d0e11"
    assert not secret_store.rename("Nobody", "Somebody")  # nothing stored: nothing moves


def test_a_renamed_source_keeps_its_token_in_the_keyring() -> None:
    secret_store.set("Desk", TOKEN)
    assert secret_store.rename("Desk", "Front desk")
    assert secret_store.stored("Front desk") == "the keyring"
    assert secret_store.get("Front desk") == TOKEN
    assert secret_store.stored("Desk") == ""


def test_secret_set_refuses_a_blank_name_and_notes_one_no_source_has(tmp_path, cli_env) -> None:
    """A typo stored a token nothing reads, and "" ended in the token file under no name."""
    config_file = tmp_path / "ticketbell.toml"
    config_file.write_text(
        '[[sources]]\nname = "Support desk"\nkind = "freescout"\nurl = "https://help.example.com"\n'
    )
    blank = run_cli(["secret", "set", " "], cli_env, input="blank-TOKEN-31c9\n")
    assert blank.returncode == 2
    assert "kept under its source's name" in blank.stderr
    typo = ["secret", "set", "Suport desk", "--config", str(config_file)]
    stored = run_cli(typo, cli_env, input="typo-TOKEN-7d21\n")
    assert stored.returncode == 0, stored.stderr  # stored: the source may come later
    assert "has no source named 'Suport desk'; its sources: 'Support desk'" in stored.stderr
    right = ["secret", "set", "support desk", "--config", str(config_file)]
    fine = run_cli(right, cli_env, input="right-TOKEN-5e02\n")
    assert fine.returncode == 0 and "no source named" not in fine.stderr


def test_secret_set_notes_a_source_that_reads_its_token_from_secret_env(tmp_path, cli_env) -> None:
    """`secret set NAME` said "stored" for a source with secret_env, which never reads the
    keyring: the check kept failing with "the environment variable ... is not set"."""
    config_file = tmp_path / "ticketbell.toml"
    config_file.write_text(
        '[[sources]]\nname = "Env desk 4b7e"\nkind = "freescout"\n'
        'url = "https://help.example.com"\nsecret_env = "ENV_DESK_TOKEN"\n'
    )
    args = ["secret", "set", "Env desk 4b7e", "--config", str(config_file)]
    stored = run_cli(args, cli_env, input="env-desk-TOKEN-8a3f\n")
    assert stored.returncode == 0, stored.stderr
    assert "stored the secret of 'Env desk 4b7e'" in stored.stdout
    note = "'Env desk 4b7e' reads its token from the environment variable ENV_DESK_TOKEN"
    assert note in stored.stderr
    assert "take secret_env out" in stored.stderr and "no source named" not in stored.stderr
    run_cli(["secret", "delete", "Env desk 4b7e", "--config", str(config_file)], cli_env)


def test_config_show_says_where_the_team_and_channel_secrets_are(tmp_path, cli_env) -> None:
    """`config show` said where each source's token was, but not the team broker's password
    nor a channel kept as keyring:NAME: the owner could not tell which one was missing."""
    stored = run_cli(["secret", "set", "team-slack-4e1f"], cli_env, input="slack-url-9a8b\n")
    assert stored.returncode == 0, stored.stderr
    conf = tmp_path / "ticketbell.toml"
    conf.write_text(
        '[[sources]]\nname = "Demo"\nkind = "demo"\n\n'
        '[team]\nbroker = "mqtt://127.0.0.1:1883"\nname = "acme"\nuser = "anna"\n'
        'secret_env = "TEAM_PW_UNSET_4e1f"\n\n'
        '[escalation]\nlevels = [ { after = "1h", notify = ["keyring:team-slack-4e1f", '
        '"keyring:pager-4e1f"] } ]\n',
        encoding="utf-8",
    )
    shown = run_cli(["config", "show", "--config", str(conf)], cli_env)
    assert shown.returncode == 0, shown.stderr
    assert "# secret for 'team': from $TEAM_PW_UNSET_4e1f (NOT set)" in shown.stdout
    assert "# secret for 'team-slack-4e1f': in keyring" in shown.stdout
    assert "# secret for 'pager-4e1f': NOT in keyring" in shown.stdout
    assert "slack-url-9a8b" not in shown.stdout + shown.stderr


def test_where_a_secret_is_said_is_where_it_is_read(tmp_path, monkeypatch) -> None:
    """A token in the keyring and an older one left in the private file: the keyring's is
    read, and `config show` said the file's."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    secret_store.set("Both-4e1f", TOKEN, to_file=True)
    keyring.set_password(secret_store.SERVICE, "Both-4e1f", "keyring-TOKEN-4e1f00")
    try:
        assert secret_store.get("Both-4e1f") == "keyring-TOKEN-4e1f00"
        assert secret_store.describe("Both-4e1f") == "in keyring"
    finally:
        keyring.delete_password(secret_store.SERVICE, "Both-4e1f")
