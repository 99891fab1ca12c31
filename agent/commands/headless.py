"""``ticketbell run --headless``: the agent without Qt, logging and notifying on its own."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import warnings
from typing import TextIO

import orjson

from agent import __version__
from agent.commands.common import EXIT_OK, EXIT_USAGE, load_config_or_say, open_agent_or_say
from agent.model import Alert, notification_text, one_line
from agent.quiet import follow_desktop

log = logging.getLogger("ticketbell")


def run_headless(args: argparse.Namespace) -> int:
    """`ticketbell run --headless`: the agent without Qt, until a signal stops it."""
    config = load_config_or_say(args)
    if config is None:
        return EXIT_USAGE
    if args.role:
        from dataclasses import replace

        config = replace(config, role=args.role)
    agent = open_agent_or_say(config, args, "ticketbell")
    if agent is None:
        return EXIT_USAGE
    notifier = None if args.no_notify else DesktopNotifier()
    printer = EventPrinter(sys.stdout if args.json else None)
    agent.subscribe(on_alerts=printer)
    if notifier:
        agent.subscribe(on_alerts=notifier)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("stopping (%s)", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, on_signal)
    log.info(
        "ticketbell %s headless, role %s, %d source(s), queue in %s",
        __version__,
        config.role,
        len(config.sources),
        agent.queue.data_dir,
    )
    # do-not-disturb and away (agent/quiet.py): looked at before the first poll
    presence = follow_desktop(agent.quiet, agent.check_now)
    agent.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        presence.stop()
        agent.stop()
        if notifier:
            notifier.close()
    return EXIT_OK


class EventPrinter:
    """Writes a log line per event on stderr and, with --json, a JSON line per event on stdout."""

    def __init__(self, json_out: TextIO | None) -> None:
        self.json_out = json_out
        self.lock = threading.Lock()

    def __call__(self, alerts: tuple[Alert, ...]) -> None:
        with self.lock:
            for alert in alerts:
                what = one_line(
                    alert.subject if alert.ticket else alert.english or alert.message, 200
                )
                if alert.ticket:
                    who = f"{alert.source} #{one_line(alert.ticket, 40)}"
                elif what.startswith(f"{alert.source}:"):  # "Desk: 10 waiting", not "Desk Desk: …"
                    who = ""
                else:
                    who = f"{alert.source}:"
                held = f" (held: {alert.hold})" if alert.hold else ""
                log.info("%s: %s%s", alert.kind, f"{who} {what}".strip(), held)
                if self.json_out is not None:
                    self.json_out.write(orjson.dumps(alert.to_json()).decode() + "\n")
            if self.json_out is not None:
                self.json_out.flush()


class DesktopNotifier:
    """Headless desktop notifications through plyer, one per burst, off the scheduler thread."""

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ticketbell-notify")
        self.warned = False
        self.notify_send = _notify_send_command()  # looked up once, not at every burst

    def __call__(self, alerts: tuple[Alert, ...]) -> None:
        text = notification_text(alerts)
        if text:
            self.pool.submit(self._send, *text)

    def _send(self, title: str, body: str) -> None:
        try:
            if self.notify_send:  # plyer's own call would pass notify-send's errors to stderr
                _run_notify_send(self.notify_send, title, body)
                return
            with warnings.catch_warnings():  # plyer warns on stderr, with its file and line
                warnings.simplefilter("ignore")
                from plyer import notification

                notification.notify(title=title, message=body, app_name="Ticketbell", timeout=10)
        except Exception as exc:  # noqa: BLE001 - plyer raises anything without a desktop
            if not self.warned:
                log.warning("desktop notifications are not available here (%s)", exc)
                self.warned = True

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=False)


def _notify_send_command() -> str | None:
    """notify-send where plyer would use it (Linux without python-dbus, outside Flatpak)."""
    import importlib.util
    import shutil
    from pathlib import Path

    if not sys.platform.startswith("linux") or Path("/app").is_dir():
        return None
    if importlib.util.find_spec("dbus") is not None:
        return None
    return shutil.which("notify-send")


def _run_notify_send(command: str, title: str, body: str) -> None:
    """One notification through notify-send; what it says on failure (no desktop session:
    "Cannot autolaunch D-Bus without X11 $DISPLAY") is raised, never written to our stderr."""
    import subprocess

    args = [command, "-a", "Ticketbell", "-t", "10000", "--", title, body]
    done = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)
    if done.returncode != 0:
        said = " ".join(done.stderr.split())[:300] or f"notify-send exited {done.returncode}"
        raise RuntimeError(said)
