"""Show `ticketbell signin NAME` (device code) and the `ticketbell check` that follows, against the
test suite's local OAuth 2 server and a real Dovecot with an oauth2 passdb. Prints a transcript.

    python scripts/signin-transcript.py

Everything runs on 127.0.0.1 in a temporary folder (config, keyring, mail) and is stopped and
removed at the end; the person's part (opening the page, typing the code) is done by a thread.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from werkzeug import Response  # noqa: E402

from agent.config import from_dict, save  # noqa: E402
from tests.fakes import imap as fake_imap  # noqa: E402
from tests.fakes.oauth import FakeOAuthServer  # noqa: E402
from tests.fakes.web import local_server  # noqa: E402

NAME = "Support inbox"


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the fake's request lines
    with tempfile.TemporaryDirectory(prefix="ticketbell-signin-") as tmp, local_server() as http:
        home = Path(tmp)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        env["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
        for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
            env[var] = str(home / var.lower())
        (home / "dovecot").mkdir()
        dovecot = fake_imap.Dovecot(
            home / "dovecot", introspection_url=f"http://127.0.0.1:{http.port}/introspect"
        )
        try:
            user, password = dovecot.add_user("mailbox-password-for-the-demo")
            oauth = FakeOAuthServer(f"http://127.0.0.1:{http.port}", "ticketbell-demo", user)
            http.expect_request(re.compile(".*")).respond_with_handler(
                lambda request: oauth.handle(request) or Response("not found", status=404)
            )
            mailbox = fake_imap.Mailbox(dovecot, user, password)
            mailbox.create("Sent")
            now = datetime.now(timezone.utc)
            mailbox.append(subject="Where is my order #1042?", arrived=now - timedelta(minutes=7))
            mailbox.close()
            config = home / "config.toml"
            raw = {
                "sources": [
                    {
                        "name": NAME,
                        "kind": "imap",
                        "url": f"imaps://127.0.0.1:{dovecot.tls_port}",
                        "user": user,
                        "verify": str(dovecot.ca),
                        "auth": "oauth",
                        "provider": "custom",
                        "issuer": oauth.base,
                        "client_id": "ticketbell-demo",
                    }
                ]
            }
            save(from_dict(raw).raw, config)
            print("$ cat config.toml")
            print(config.read_text().replace(str(home), "…"))
            run(["signin", NAME, "--device", "--config", str(config)], env, person=True)
            run(["check", "--config", str(config)], env)
            print("  (an admin revokes the person's sign-in sessions)\n")
            oauth.revoke_all()
            run(["check", "--config", str(config)], env)
        finally:
            dovecot.stop()
    return 0


def run(args: list[str], env: dict[str, str], person: bool = False) -> None:
    shown = " ".join(f'"{a}"' if " " in a else a for a in args if not a.startswith("/"))
    print(f"$ ticketbell {shown.replace('--config', '').strip()}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        print(line, end="", flush=True)
        found = re.search(r"open (\S+) and enter the code (\S+)\.", line)
        if person and found:
            threading.Thread(target=enter_code, args=found.groups(), daemon=True).start()
    proc.wait()
    print(f"[exit status {proc.returncode}]\n")


def enter_code(url: str, code: str) -> None:
    """The person opens the page and types the code."""
    requests.get(url, timeout=5).raise_for_status()
    requests.post(url, data={"user_code": code}, timeout=5).raise_for_status()
    print(f"  (the person opened {url}, typed {code} and pressed Allow)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
