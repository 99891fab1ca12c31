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
