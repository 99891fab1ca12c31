"""A real Mosquitto for the team tests, on 127.0.0.1 only, on free ports, stopped by the test.

Its configuration is what the README's "Team" section ships: no anonymous logins, a password
file made with ``mosquitto_passwd``, an ACL in which every login reads the team's topics and
writes only its own claims and presence while the hub logins alone write the rest, and a TLS
listener beside the plain one, with a certificate from a CA made for the run (trustme).
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trustme

from tests import secretscan

TEAM = "acme"
HUBS = ("hub", "hub2")
MEMBERS = ("anna", "ben", "cara")
#: the broker logins' passwords (test secrets: the suite's scan fails a run that leaks one)
PASSWORDS = {user: f"team-{user}-pw-5d8e1a{i}c" for i, user in enumerate(HUBS + MEMBERS)}

ACL = """\
# the hub logins alone write tickets, health and the heartbeat (and end claims)
user hub
topic readwrite ticketbell/{team}/#
# bench/team.py's floor, on a topic no Ticketbell subscribes to
topic readwrite bench/#
user hub2
topic readwrite ticketbell/{team}/#

# every login reads the team; writes only its own claims and presence
pattern read ticketbell/{team}/#
pattern write ticketbell/{team}/claims/+/+/%u
pattern write ticketbell/{team}/presence/%u
"""


#: for a test of a broker certificate that is not trusted: paho leaves the TLS socket of a
#: failed handshake for the collector to close (its ``_ssl_wrap_socket`` does not close it
#: when ``do_handshake`` raises), and Python warns when the collector does
PAHO_LEAVES_FAILED_TLS_SOCKET = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <ssl.SSLSocket"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def mosquitto_path() -> str:
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()),
        None,
    )
    if found is None:
        raise RuntimeError("mosquitto is not installed: run scripts/system-deps.sh test")
    return found


class Broker:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.tls_port = free_port()
        self.ca_file = folder / "ca.pem"
        self.log = folder / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def tls_url(self) -> str:
        return f"mqtts://127.0.0.1:{self.tls_port}"

    def write_files(self) -> Path:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        ca.cert_pem.write_to_path(str(self.ca_file))
        cert.cert_chain_pems[0].write_to_path(str(self.folder / "server.pem"))
        cert.private_key_pem.write_to_path(str(self.folder / "server.key"))
        passwd = self.folder / "passwd"
        for user, password in PASSWORDS.items():
            secretscan.register_secret(password)
            create = ["-c"] if not passwd.exists() else []
            subprocess.run(
                ["mosquitto_passwd", *create, "-b", str(passwd), user, password], check=True
            )
        (self.folder / "acl").write_text(ACL.format(team=TEAM))
        conf = self.folder / "mosquitto.conf"
        conf.write_text(
            f"""# run as whoever runs the tests (started as root it would become "mosquitto")
user {getpass.getuser()}
per_listener_settings false
allow_anonymous false
password_file {passwd}
acl_file {self.folder / "acl"}
persistence false
log_dest file {self.log}
log_type error
log_type warning
log_type notice
listener {self.port} 127.0.0.1
listener {self.tls_port} 127.0.0.1
cafile {self.ca_file}
certfile {self.folder / "server.pem"}
keyfile {self.folder / "server.key"}
"""
        )
        return conf

    def start(self) -> None:
        conf = self.write_files()
        self.proc = subprocess.Popen(
            [mosquitto_path(), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                self.stop()
                raise RuntimeError(f"mosquitto stopped at start: {err} {self.log_text()}")
            try:
                for port in (self.port, self.tls_port):
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not listen within 10 s")

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()


@contextmanager
def running_broker(folder: Path) -> Iterator[Broker]:
    folder.mkdir(parents=True, exist_ok=True)
    broker = Broker(folder)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
