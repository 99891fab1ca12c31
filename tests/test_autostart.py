"""Start at login on the three OSes, against fake locations: an XDG autostart folder, a
LaunchAgents folder and a registry that behaves like ``winreg`` (values, missing keys raise
FileNotFoundError, context-managed keys)."""

from __future__ import annotations

import plistlib
import shlex
from pathlib import Path

import pytest

from agent import autostart
from tests.conftest import run_cli


class FakeWinreg:
    """The part of the ``winreg`` module autostart uses, over a dict of key path -> values."""

    HKEY_CURRENT_USER = "HKCU"
    KEY_READ, KEY_SET_VALUE = 1, 2
    REG_SZ, REG_BINARY = 1, 3

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, tuple[object, int]]] = {}

    class _Key:
        def __init__(self, values: dict) -> None:
            self.values = values

        def __enter__(self):
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    def OpenKey(self, root, path, reserved=0, access=1):
        if f"{root}\\{path}" not in self.keys:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        return self._Key(self.keys[f"{root}\\{path}"])

    def CreateKeyEx(self, root, path, reserved=0, access=2):
        return self._Key(self.keys.setdefault(f"{root}\\{path}", {}))

    def QueryValueEx(self, key, name):
        if name not in key.values:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        return key.values[name]

    def SetValueEx(self, key, name, reserved, kind, value):
        key.values[name] = (value, kind)

    def DeleteValue(self, key, name):
        if name not in key.values:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        del key.values[name]

    def run_value(self) -> str | None:
        entry = self.keys.get(f"HKCU\\{autostart.RUN_KEY}", {}).get("Ticketbell")
        return entry[0] if entry else None


def test_xdg_entry_is_written_with_the_command_and_removed_again(tmp_path: Path):
    folder = tmp_path / "autostart"
    command = ["/opt/ticket bell/ticketbell", "--minimized"]
    assert not autostart.enabled(platform="linux", location=folder)

    autostart.set_enabled(True, command=command, platform="linux", location=folder)

    entry = folder / "ticketbell.desktop"
    text = entry.read_text(encoding="utf-8")
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    assert text.startswith("[Desktop Entry]\n")
    assert shlex.split(fields["Exec"]) == command  # quoted: the path has a space
    assert fields["TryExec"] == command[0]
    assert fields["Name"] == "Ticketbell"
    assert fields["Icon"] == "ticketbell"
    assert autostart.enabled(platform="linux", location=folder)

    autostart.set_enabled(False, platform="linux", location=folder)
    assert not entry.exists()
    assert not autostart.enabled(platform="linux", location=folder)
    autostart.set_enabled(False, platform="linux", location=folder)  # already off: no error


@pytest.mark.parametrize("line", ["Hidden=true", "X-GNOME-Autostart-enabled=false"])
def test_xdg_entry_disabled_in_the_desktops_panel_counts_as_off_until_turned_on(tmp_path, line):
    folder = tmp_path / "autostart"
    autostart.set_enabled(True, command=["ticketbell"], platform="linux", location=folder)
    entry = folder / "ticketbell.desktop"
    entry.write_text(entry.read_text().replace("X-GNOME-Autostart-enabled=true", line))
    assert not autostart.enabled(platform="linux", location=folder)

    autostart.set_enabled(True, command=["ticketbell"], platform="linux", location=folder)
    assert autostart.enabled(platform="linux", location=folder)
    assert line not in entry.read_text()


def test_xdg_exec_line_escapes_desktop_entry_specials(tmp_path):
    folder = tmp_path / "a"
    autostart.set_enabled(True, command=["/x/100%/tb$"], platform="linux", location=folder)
    exec_line = next(
        line for line in (folder / "ticketbell.desktop").read_text().splitlines() if "Exec=" in line
    )
    assert exec_line == 'Exec="/x/100%%/tb\\$"'


def test_xdg_unwritable_folder_gives_a_message_naming_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(autostart.AutostartError, match=r"login item .*file"):
        autostart.set_enabled(True, command=["tb"], platform="linux", location=blocker / "sub")


def test_windows_run_value_is_set_quoted_and_deleted():
    reg = FakeWinreg()
    command = [r"C:\Users\Anna Lee\AppData\Local\Programs\Ticketbell\ticketbell.exe"]
    assert not autostart.enabled(platform="win32", registry=reg)

    autostart.set_enabled(True, command=command, platform="win32", registry=reg)
    assert reg.run_value() == f'"{command[0]}"'
    assert autostart.enabled(platform="win32", registry=reg)

    autostart.set_enabled(False, command=command, platform="win32", registry=reg)
    assert reg.run_value() is None
    assert not autostart.enabled(platform="win32", registry=reg)
    autostart.set_enabled(False, command=command, platform="win32", registry=reg)


def test_windows_task_manager_disable_counts_as_off_and_turning_on_clears_it():
    reg = FakeWinreg()
    autostart.set_enabled(True, command=["tb.exe"], platform="win32", registry=reg)
    approved = reg.CreateKeyEx(reg.HKEY_CURRENT_USER, autostart.APPROVED_KEY)
    reg.SetValueEx(approved, "Ticketbell", 0, reg.REG_BINARY, b"\x03" + bytes(11))
    assert not autostart.enabled(platform="win32", registry=reg)

    autostart.set_enabled(True, command=["tb.exe"], platform="win32", registry=reg)
    assert autostart.enabled(platform="win32", registry=reg)
    assert "Ticketbell" not in approved.values


def test_macos_launch_agent_runs_the_app_at_load_and_is_removed(tmp_path):
    folder = tmp_path / "LaunchAgents"
    command = ["/Applications/Ticketbell.app/Contents/MacOS/ticketbell"]
    assert not autostart.enabled(platform="darwin", location=folder)

    autostart.set_enabled(True, command=command, platform="darwin", location=folder)

    plist_path = folder / f"{autostart.APP_ID}.plist"
    plist = plistlib.loads(plist_path.read_bytes())
    assert plist["Label"] == autostart.APP_ID
    assert plist["ProgramArguments"] == command
    assert plist["RunAtLoad"] is True
    assert autostart.enabled(platform="darwin", location=folder)

    autostart.set_enabled(False, platform="darwin", location=folder)
    assert not plist_path.exists()
    assert not autostart.enabled(platform="darwin", location=folder)


def test_macos_damaged_plist_counts_as_off_and_is_replaced(tmp_path):
    folder = tmp_path / "LaunchAgents"
    folder.mkdir()
    (folder / f"{autostart.APP_ID}.plist").write_text("<plist><dict><key>")
    assert not autostart.enabled(platform="darwin", location=folder)
    autostart.set_enabled(True, command=["tb"], platform="darwin", location=folder)
    assert autostart.enabled(platform="darwin", location=folder)


def test_default_xdg_location_follows_xdg_config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    autostart.set_enabled(True, command=["tb"], platform="linux")
    assert (tmp_path / "cfg" / "autostart" / "ticketbell.desktop").is_file()
    assert autostart.enabled(platform="linux")
    assert autostart.entry_location("linux") == str(
        tmp_path / "cfg" / "autostart" / "ticketbell.desktop"
    )


def test_cli_turns_start_at_login_on_and_off(cli_env):
    entry = Path(cli_env["XDG_CONFIG_HOME"]) / "autostart" / "ticketbell.desktop"
    on = run_cli(["autostart", "on"], cli_env)
    assert on.returncode == 0, on.stderr
    assert f"start at login: on ({entry})" in on.stdout
    assert "Exec=" in entry.read_text()
    assert "start at login: on" in run_cli(["autostart"], cli_env).stdout
    off = run_cli(["autostart", "off"], cli_env)
    assert "start at login: off" in off.stdout
    assert not entry.exists()


def test_cli_start_at_login_keeps_the_config_and_data_folder_it_was_given(tmp_path, cli_env):
    """`ticketbell --config X autostart on` started the default config at login."""
    entry = Path(cli_env["XDG_CONFIG_HOME"]) / "autostart" / "ticketbell.desktop"
    config_file, data = tmp_path / "team desk.toml", tmp_path / "data"
    on = run_cli(
        ["--config", str(config_file), "--data-dir", str(data), "autostart", "on"], cli_env
    )
    assert on.returncode == 0, on.stderr
    (exec_line,) = [line for line in entry.read_text().splitlines() if line.startswith("Exec=")]
    assert f'--config "{config_file}" --data-dir {data}' in exec_line
    plain = run_cli(["autostart", "on"], cli_env)
    assert plain.returncode == 0 and "--config" not in entry.read_text()  # the defaults: none
