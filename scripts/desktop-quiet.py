#!/usr/bin/env python3
"""Do-not-disturb on the private virtual desktop (issue 18): the tray app holds its notification
and its chime while dunst is paused, and says "While do-not-disturb was on: 3 new" once it is not.

    python scripts/desktop-quiet.py [OUTDIR]        (default: build/desktop-quiet)

Run with the virtualenv's python from the repository. It runs itself inside the desktop harness
(scripts/desktop-check.sh says where the harness is found) with ``--inside``: serves three fresh
tickets from a local JSON endpoint (127.0.0.1, an ephemeral port), pauses dunst
(``dunstctl set-paused true``: dunst's ``org.dunstproject.cmd0`` ``paused``, which
agent/presence.py reads), starts ``ticketbell`` on that endpoint, waits ``HOLD`` seconds, un-pauses
dunst and waits ``AFTER`` seconds for the summary. Outside, it reads what the harness recorded:
the Notify calls on the bus (``notifications.json``), the sink's recording (``summary.txt``) and
the app's log, and prints PASS or FAIL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUMMARY = "While do-not-disturb was on: 3 new"
HOLD = float(os.environ.get("HOLD", "12"))
AFTER = float(os.environ.get("AFTER", "30"))


def harness() -> Path:
    found = os.environ.get("TICKETBELL_DESKTOP_HARNESS")
    if found:
        return Path(found)
    for parent in REPO.parents:
        candidate = parent / "shared" / "tools" / "desktop"
        if (candidate / "run-in-desktop.sh").is_file():
            return candidate
    raise SystemExit("desktop-quiet: no harness (set TICKETBELL_DESKTOP_HARNESS)")


def serve(tickets: list[dict[str, str]]) -> ThreadingHTTPServer:
    body = json.dumps({"tickets": tickets}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


CONFIG = """role = "assistant"
[[sources]]
name = "Shop"
kind = "json"
url = "http://127.0.0.1:{port}/tickets"
secret_env = "TICKETBELL_QUIET_CHECK"
interval = "5s"
items = "tickets"
fields = {{ id = "id", subject = "subject", created = "created", category = "category" }}
[windows]
default = "2h"
[alerts]
remind_every = "off"
"""


def inside() -> int:
    now = datetime.now(timezone.utc).isoformat()
    subjects = ("Invoice shows the wrong VAT number", "Cannot log in", "Refund please")
    tickets = [
        {"id": str(i), "subject": s, "created": now, "category": "Billing"}
        for i, s in enumerate(subjects, 1)
    ]
    server = serve(tickets)
    work = Path(tempfile.mkdtemp(prefix="tb-quiet-"))
    config = work / "ticketbell.toml"
    config.write_text(CONFIG.format(port=server.server_address[1]), encoding="utf-8")
    subprocess.run(["dunstctl", "set-paused", "true"], check=True)
    print(f"desktop-quiet: {time.time():.1f} dunst paused", file=sys.stderr, flush=True)
    env = {**os.environ, "TICKETBELL_QUIET_CHECK": "x"}
    app = subprocess.Popen(
        [sys.executable, "-m", "ticketbell", "--config", str(config), "--data-dir", str(work)],
        cwd=REPO,
        env=env,
    )
    try:
        time.sleep(HOLD)
        subprocess.run(["dunstctl", "set-paused", "false"], check=True)
        print(f"desktop-quiet: {time.time():.1f} dunst resumed", file=sys.stderr, flush=True)
        time.sleep(AFTER)
    finally:
        app.send_signal(signal.SIGTERM)
        app.wait(15)
        server.shutdown()
    return 0


def outside(out: Path) -> int:
    run = harness() / "run-in-desktop.sh"
    timeout = str(int(HOLD + AFTER + 25))
    subprocess.run(
        [str(run), "--shots", f"{int(HOLD) - 2} {int(HOLD + AFTER) - 2}", "--timeout", timeout,
         str(out), "--", sys.executable, str(Path(__file__).resolve()), "--inside"],
        check=True,
    )  # fmt: skip
    return verdict(out)


def verdict(out: Path) -> int:
    """No Notify call and no sound while dunst was paused; exactly one call after: the summary."""
    summary = dict(
        line.split("=", 1) for line in (out / "summary.txt").read_text().splitlines() if "=" in line
    )
    log = (out / "app.log").read_text(errors="replace").splitlines()
    resumed = next(float(line.split()[1]) for line in log if line.endswith("dunst resumed"))
    calls = json.loads((out / "notifications.json").read_text() or "[]")
    before = [c for c in calls if c["time"] < resumed]
    after = [c for c in calls if c["time"] >= resumed]
    for c in calls:
        when = (
            "during do-not-disturb" if c["time"] < resumed else f"{c['time'] - resumed:.1f} s after"
        )
        print(f"Notify {when}: {c.get('summary')!r} / {c.get('body')!r}")
    print(f"audible={summary.get('audible')} audio_max={summary.get('audio_max')}")
    said = [c for c in after if str(c.get("summary", "")).startswith(SUMMARY)]
    ok = not before and len(after) == 1 and len(said) == 1 and summary.get("audible") == "no"
    print("desktop-quiet: PASS" if ok else f"desktop-quiet: FAIL (see {out})")
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--inside"]:
        sys.exit(inside())
    sys.exit(outside(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "build" / "desktop-quiet"))
