"""Config errors in the person's language: the message translated, the file name and the key
path as they are written in the file (a person searches the file for them)."""

from __future__ import annotations

from tests.conftest import run_cli


def test_config_validate_names_a_broken_key_in_german(cli_env, tmp_path):
    path = tmp_path / "ticketbell.toml"
    path.write_text('[[sources]]\nname = "Desk"\nkind = "demo"\ninterval = "soon"\n')
    done = run_cli(["--config", str(path), "config", "validate"], {**cli_env, "LANGUAGE": "de"})
    assert done.returncode != 0
    said = done.stderr.strip()
    assert said.startswith(f"ticketbell: {path}: sources[0].interval: 'soon' ist keine Dauer;")
    assert "verwenden Sie z. B." in said and "is not a duration" not in said


def test_a_missing_key_and_a_wrong_type_in_french(cli_env, tmp_path):
    path = tmp_path / "ticketbell.toml"
    path.write_text('[[sources]]\nkind = "demo"\n')
    done = run_cli(["--config", str(path), "config", "validate"], {**cli_env, "LANGUAGE": "fr"})
    assert done.stderr.strip() == f"ticketbell: {path}: sources[0].name: est manquant"
    path.write_text('role = 3\n[[sources]]\nname = "Desk"\nkind = "demo"\n')
    done = run_cli(["--config", str(path), "config", "validate"], {**cli_env, "LANGUAGE": "fr"})
    assert done.stderr.strip() == f"ticketbell: {path}: role: doit être un texte, pas un nombre"


def test_english_errors_are_unchanged(cli_env, tmp_path):
    path = tmp_path / "ticketbell.toml"
    path.write_text('[[sources]]\nname = "Desk"\nkind = "demo"\ninterval = "soon"\n')
    done = run_cli(["--config", str(path), "config", "validate"], cli_env)
    assert "sources[0].interval: 'soon' is not a duration; use e.g. \"90s\"" in done.stderr
