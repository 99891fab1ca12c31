"""Start at login: the one place that knows where each OS keeps its login items.

    Linux (XDG)  ~/.config/autostart/ticketbell.desktop
    Windows      HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run, value "Ticketbell"
    macOS        ~/Library/LaunchAgents/<APP_ID>.plist (RunAtLoad)

The OS entry itself is the setting (no copy in the config), so the settings checkbox, the
installers (the Windows installer writes the same Run value) and the desktop's own "startup
applications" panel never disagree. A login item the user disabled in the desktop's panel
(``Hidden=true`` / ``X-GNOME-Autostart-enabled=false``, or Task Manager's StartupApproved flag)
counts as off; turning it on again here clears that.

Every location is injectable (``location=`` a directory, ``registry=`` a winreg-like module) so the
three OSes are tested on any machine.
"""

from __future__ import annotations

import contextlib
import os
import plistlib
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.parsers.expat import ExpatError

import platformdirs

APP_NAME = "Ticketbell"
APP_ID = "org.ticketbell.Ticketbell"  # macOS bundle id / LaunchAgent label, Windows AppUserModelID
RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
APPROVED_KEY = r"Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"


class AutostartError(OSError):
    """The login item could not be written; the message names where."""


def launch_command() -> list[str]:
    """How to start the tray app from a login item: the bundle, the installed script, or Python."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    exe = shutil.which("ticketbell")
    return [exe] if exe else [sys.executable, "-m", "ticketbell"]


def _system(platform: str | None) -> str:
    platform = platform or sys.platform
    if platform.startswith("win"):
        return "windows"
    if platform == "darwin":
        return "macos"
    return "xdg"


def entry_location(platform: str | None = None, location: Path | None = None) -> str:
    """Where the login item lives, for messages ("written to ...")."""
    system = _system(platform)
    if system == "windows":
        return f"HKEY_CURRENT_USER\\{RUN_KEY}\\{APP_NAME}"
    return str(_entry_file(system, location))


def enabled(
    *, platform: str | None = None, location: Path | None = None, registry: Any = None
) -> bool:
    """Whether Ticketbell starts at login for this user."""
    system = _system(platform)
    if system == "windows":
        return _windows_enabled(registry or _winreg())
    path = _entry_file(system, location)
    if system == "macos":
        try:
            with open(path, "rb") as fh:
                plist = plistlib.load(fh)
        except (OSError, plistlib.InvalidFileException, ValueError, ExpatError):
            return False
        return bool(plist.get("RunAtLoad")) and not plist.get("Disabled", False)
    try:
        fields = _desktop_fields(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return False
    return (
        fields.get("Hidden", "false").lower() != "true"
        and fields.get("X-GNOME-Autostart-enabled", "true").lower() != "false"
    )


def set_enabled(
    on: bool,
    *,
    command: Sequence[str] | None = None,
    platform: str | None = None,
    location: Path | None = None,
    registry: Any = None,
) -> None:
    """Turn start at login on (for ``command``, default :func:`launch_command`) or off."""
    command = list(command or launch_command())
    system = _system(platform)
    if system == "windows":
        _windows_set(on, registry or _winreg(), command)
        return
    path = _entry_file(system, location)
    try:
        if not on:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if system == "macos":
            data = plistlib.dumps(
                {
                    "Label": APP_ID,
                    "ProgramArguments": command,
                    "RunAtLoad": True,
                    "ProcessType": "Interactive",
                }
            )
        else:
            data = xdg_entry(command).encode("utf-8")
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        raise AutostartError(
            f"cannot change the login item {path}: {exc.strerror or exc}"
        ) from None


# --------------------------------------------------------------------------- XDG


def _entry_file(system: str, location: Path | None) -> Path:
    if system == "macos":
        folder = location or Path.home() / "Library" / "LaunchAgents"
        return folder / f"{APP_ID}.plist"
    folder = location or platformdirs.user_config_path() / "autostart"
    return folder / "ticketbell.desktop"


def _desktop_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    in_entry = False
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            in_entry = line == "[Desktop Entry]"
        elif in_entry and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            fields[key.strip()] = value.strip()
    return fields


def _desktop_quote(arg: str) -> str:
    """Quote one argument for a .desktop Exec line (Desktop Entry Specification, "Exec key")."""
    arg = arg.replace("%", "%%")
    if not re.search(r'[\s"\'\\><~|&;$*?#()`]', arg):
        return arg
    return '"' + re.sub(r'(["`$\\])', r"\\\1", arg) + '"'


def xdg_entry(command: Sequence[str]) -> str:
    """The autostart .desktop file: the menu entry from ``resources``, starting ``command``."""
    import resources

    exec_line = " ".join(_desktop_quote(a) for a in command)
    lines = []
    for line in resources.read_text("ticketbell.desktop").splitlines():
        if line.startswith(("Exec=", "TryExec=", "X-GNOME-Autostart-enabled=", "Hidden=")):
            continue
        lines.append(line)
        if line == "[Desktop Entry]":
            # TryExec: if the app was uninstalled, the desktop skips the entry instead of failing.
            lines += [
                f"Exec={exec_line}",
                f"TryExec={command[0]}",
                "X-GNOME-Autostart-enabled=true",
            ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- Windows


def _winreg() -> Any:
    import winreg  # Windows only

    return winreg


def _windows_enabled(reg: Any) -> bool:
    try:
        with reg.OpenKey(reg.HKEY_CURRENT_USER, RUN_KEY, 0, reg.KEY_READ) as key:
            reg.QueryValueEx(key, APP_NAME)
    except OSError:
        return False
    try:
        with reg.OpenKey(reg.HKEY_CURRENT_USER, APPROVED_KEY, 0, reg.KEY_READ) as key:
            flags, _ = reg.QueryValueEx(key, APP_NAME)
    except OSError:
        return True
    # Task Manager's "Disable" writes 03 (or any odd first byte); 02 means enabled.
    return not (isinstance(flags, bytes) and flags and flags[0] & 1)


def _windows_set(on: bool, reg: Any, command: list[str]) -> None:
    try:
        with reg.CreateKeyEx(reg.HKEY_CURRENT_USER, RUN_KEY, 0, reg.KEY_SET_VALUE) as key:
            if on:
                reg.SetValueEx(key, APP_NAME, 0, reg.REG_SZ, subprocess.list2cmdline(command))
            else:
                _delete_value(reg, key)
        if on:  # a Task Manager "Disabled" flag would keep it off
            with reg.CreateKeyEx(reg.HKEY_CURRENT_USER, APPROVED_KEY, 0, reg.KEY_SET_VALUE) as key:
                _delete_value(reg, key)
    except OSError as exc:
        raise AutostartError(
            f"cannot change HKEY_CURRENT_USER\\{RUN_KEY}: {exc.strerror or exc}"
        ) from None


def _delete_value(reg: Any, key: Any) -> None:
    with contextlib.suppress(FileNotFoundError):
        reg.DeleteValue(key, APP_NAME)
