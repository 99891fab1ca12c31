"""A real IMAP server for tests: Dovecot started with its own configuration on 127.0.0.1.

``Dovecot(workdir)`` writes a config, a passwd-file and a CA + server certificate (made with the
``openssl`` command, which Dovecot's package depends on) into ``workdir``, listens on free ports
for ``imap://`` (STARTTLS offered) and ``imaps://``, and is stopped by :meth:`stop`, leaving no
process behind. Each test gets a fresh account from :meth:`add_user`; :class:`Mailbox` puts
messages in with plain imaplib ``APPEND`` (chosen INTERNALDATE and flags), as a mail client would.

Dovecot refuses to run its login process as root and refuses mail access as uid 0. Run as root,
the login process uses Dovecot's own unprivileged ``dovenull`` user and the mail files belong to
``nobody`` in a directory that user can reach; run as a normal user, everything runs as that user.
"""

from __future__ import annotations

import contextlib
import grp
import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from tests import secretscan

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"


def available() -> bool:
    return os.access(DOVECOT, os.X_OK) and shutil.which("openssl") is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _make_certificates(folder: Path) -> None:
    """A test CA and a certificate for 127.0.0.1/localhost signed by it."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=Ticketbell test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (folder / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
    )
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2",
            "-extfile", "server.ext")  # fmt: skip


class Dovecot:
    """``introspection_url``: also accept OAuth 2 bearer tokens (SASL XOAUTH2 and OAUTHBEARER),
    checked by Dovecot's ``oauth2`` passdb against that RFC 7662 introspection endpoint
    (doc.dovecot.org/2.3/configuration_manual/authentication/oauth2: ``introspection_mode =
    post``, ``username_attribute``, ``active_attribute``/``active_value``)."""

    def __init__(self, workdir: Path, introspection_url: str = "") -> None:
        self.dir = workdir
        self.port = free_port()
        self.tls_port = free_port()
        self.conf = workdir / "dovecot.conf"
        self.users = workdir / "users"  # a passwd-file per user
        secretscan.SERVER_SIDE.append(workdir)  # the server's own password files
        self.ca = workdir / "ca.pem"
        self.root = os.geteuid() == 0
        if self.root:  # mail as "nobody", in a folder that user can reach
            self.mail_dir = Path(tempfile.mkdtemp(prefix="ticketbell-mail-"))
            nobody = pwd.getpwnam("nobody")
            self.mail_uid, self.mail_gid = nobody.pw_uid, nobody.pw_gid
            self.mail_dir.chmod(0o755)  # a test mailbox root; the mail files stay 0600
        else:
            self.mail_dir = workdir / "mail"
            self.mail_dir.mkdir()
            self.mail_uid, self.mail_gid = os.getuid(), os.getgid()
        self._count = 0
        self.users.mkdir()
        _make_certificates(workdir)
        me = pwd.getpwuid(os.getuid()).pw_name
        login_user = "dovenull" if self.root else me
        internal = "root" if self.root else me
        chroot = "" if self.root else "  chroot =\n"
        mechanisms, oauth_passdb = "plain login", ""
        if introspection_url:
            mechanisms = "plain login xoauth2 oauthbearer"
            (workdir / "dovecot-oauth2.conf.ext").write_text(
                f"introspection_mode = post\nintrospection_url = {introspection_url}\n"
                "username_attribute = username\nactive_attribute = active\n"
                "active_value = true\nforce_introspection = yes\n"
            )
            oauth_passdb = (
                "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
                f"  args = {workdir}/dovecot-oauth2.conf.ext\n}}\n"
            )
        self.conf.write_text(
            f"""
base_dir = {workdir}/run
state_dir = {workdir}/state
log_path = {workdir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{workdir}/server.pem
ssl_key = <{workdir}/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
auth_failure_delay = 0
default_internal_user = {internal}
default_internal_group = {grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name}
default_login_user = {login_user}
first_valid_uid = 1
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {self.users}/%u
}}
{oauth_passdb}userdb {{
  driver = passwd-file
  args = username_format=%u {self.users}/%u
}}
service imap-login {{
{chroot}  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{  # no brute-force delay after the wrong-password test
    mode = 0
  }}
}}
service imap {{
  process_limit = 64
}}
"""
        )
        # In the foreground (-F), so the process is ours to stop and to reap.
        with (workdir / "master.out").open("wb") as out:
            self.process = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(self.conf)], stdout=out, stderr=out
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        for _ in range(200):
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 1),
            ):
                return
            time.sleep(0.02)
        raise RuntimeError(f"Dovecot did not start: {self.log()}")

    def log(self) -> str:
        path = self.dir / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def add_user(self, password: str) -> tuple[str, str]:
        """A new account with an empty mailbox: (login, password)."""
        self._count += 1
        user = f"support{self._count}@example.com"
        home = self.mail_dir / f"support{self._count}"
        home.mkdir()
        os.chown(home, self.mail_uid, self.mail_gid)
        # One passwd-file per user: a new file is read at once, an edited one maybe not.
        (self.users / user).write_text(
            f"{user}:{{PLAIN}}{password}:{self.mail_uid}:{self.mail_gid}::{home}\n"
        )
        return user, password

    def doveadm(self, *args: str) -> str:
        result = subprocess.run(
            [DOVEADM, "-c", str(self.conf), *args], check=True, capture_output=True, text=True
        )
        return result.stdout

    def kick(self, user: str) -> None:
        """Close every connection of ``user`` and wait until they are gone (``doveadm kick``
        returns before the server has closed them: a client could still get one NOOP through)."""
        self.doveadm("kick", user)
        deadline = time.monotonic() + 10
        while user in self.doveadm("who") and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the master; it stops its children before it exits."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.root:
            shutil.rmtree(self.mail_dir, ignore_errors=True)


class Mailbox:
    """A mail client's view of one account: append messages, set flags, make folders."""

    def __init__(self, server: Dovecot, user: str, password: str) -> None:
        self.server = server
        self.user = user
        self.conn = imaplib.IMAP4("127.0.0.1", server.port)
        self.conn.login(user, password)
        self._n = 0

    def create(self, folder: str) -> None:
        typ, data = self.conn.create(f'"{folder}"')
        assert typ == "OK", data

    def delete(self, folder: str) -> None:
        typ, data = self.conn.delete(f'"{folder}"')
        assert typ == "OK", data

    def append(
        self,
        folder: str = "INBOX",
        *,
        subject: str = "Help",
        sender: str = "Carla Customer <carla@customer.example>",
        to: str = "support@example.com",
        arrived: datetime,
        flags: str = "",
        reply_to: str = "",
        references: str = "",
        message_id: str = "",
        extra: dict[str, str] | None = None,
    ) -> str:
        """Store one message with INTERNALDATE ``arrived``; returns its Message-ID."""
        self._n += 1
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = to
        msg["Subject"] = subject
        # A Date header that lies: waiting time must come from INTERNALDATE, not from this.
        msg["Date"] = format_datetime(datetime(2001, 1, 1, 12, 0).astimezone())
        msg["Message-ID"] = message_id or f"<m{self._n}.{time.time_ns()}@customer.example>"
        if reply_to:
            msg["In-Reply-To"] = reply_to
        if references or reply_to:
            msg["References"] = references or reply_to
        for key, value in (extra or {}).items():
            msg[key] = value
        msg.set_content("Hello,\nplease help.\n")
        typ, data = self.conn.append(
            f'"{folder}"',
            f"({flags})" if flags else None,
            imaplib.Time2Internaldate(arrived.timestamp()),
            msg.as_bytes(),
        )
        assert typ == "OK", data
        return str(msg["Message-ID"])

    def append_raw(self, raw: bytes, *, folder: str = "INBOX", arrived: datetime) -> None:
        """Store a message exactly as given (a delivery report, say), with INTERNALDATE."""
        typ, data = self.conn.append(
            f'"{folder}"', None, imaplib.Time2Internaldate(arrived.timestamp()), raw
        )
        assert typ == "OK", data

    def set_flag(self, folder: str, message_id: str, flag: str) -> None:
        self.conn.select(f'"{folder}"')
        typ, data = self.conn.uid("SEARCH", "HEADER", "Message-ID", message_id)
        assert typ == "OK" and data[0], data
        typ, data = self.conn.uid("STORE", data[0].decode(), "+FLAGS", f"({flag})")
        assert typ == "OK", data

    def flags(self, folder: str = "INBOX") -> list[str]:
        """The flags of every message in ``folder`` (to prove that reading sets none)."""
        self.conn.select(f'"{folder}"', readonly=True)
        typ, data = self.conn.fetch("1:*", "(FLAGS)")
        assert typ == "OK", data
        return [d.decode() for d in data if d]

    def close(self) -> None:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            self.conn.logout()
