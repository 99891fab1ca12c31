"""Network faults a helpdesk can have that an HTTP handler cannot produce.

:class:`FaultProxy` listens on 127.0.0.1 and, while healthy, passes bytes through to a fake
helpdesk (``tests/fakes/<helpdesk>.py``). Setting ``mode`` breaks the next connections the way
real networks break: nobody listening (connection refused), a server that never answers (read
timeout), a body cut off before its Content-Length, a body announced as 1 GiB. With a TLS
context it terminates TLS in front of the plain-HTTP fake, so certificate failures (self-signed,
expired) and their repair can be staged. Changing the mode or the certificate drops every open
connection, so a pooled keep-alive connection cannot hide the fault.

:func:`make_certs` makes a CA and certificates for 127.0.0.1 with ``cryptography``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import select
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

MODES = ("pass", "refuse", "hang", "truncate", "huge", "reset")


class FaultProxy:
    def __init__(self, backend_port: int) -> None:
        self.backend_port = backend_port
        self.mode = "pass"
        self.ssl_context: ssl.SSLContext | None = None
        self.connections = 0
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self.port = 0
        self._listen()
        self._thread = threading.Thread(target=self._accept_loop, name="fault-proxy", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ control

    def url(self, host: str = "127.0.0.1") -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{host}:{self.port}"

    def set_mode(self, mode: str) -> None:
        assert mode in MODES, mode
        with self._lock:
            self.mode = mode
        self.drop_connections()
        if mode == "refuse":
            self._close_listener()
        elif self._listener is None:
            self._listen()

    def use_tls(self, context: ssl.SSLContext | None) -> None:
        with self._lock:
            self.ssl_context = context
        self.drop_connections()

    def drop_connections(self) -> None:
        with self._lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._close_listener()
        self.drop_connections()
        self._thread.join(5)

    # ------------------------------------------------------------------ serving

    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(16)
        sock.settimeout(0.05)
        self.port = sock.getsockname()[1]
        self._listener = sock

    def _close_listener(self) -> None:
        sock, self._listener = self._listener, None
        if sock is not None:
            sock.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            sock = self._listener
            if sock is None:
                self._stop.wait(0.02)
                continue
            try:
                conn, _ = sock.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(None)
            with self._lock:
                self.connections += 1
                self._open.add(conn)
                mode, context = self.mode, self.ssl_context
            threading.Thread(
                target=self._serve, args=(conn, mode, context), name="fault-conn", daemon=True
            ).start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)

    def _serve(self, conn: socket.socket, mode: str, context: ssl.SSLContext | None) -> None:
        try:
            if context is not None:
                conn.settimeout(5)
                try:
                    conn = context.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    return  # the client refused our certificate: that is the fault
                conn.settimeout(None)
                self._track(conn)
            if mode == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)
                return
            if mode == "hang":
                self._stop.wait()  # read nothing, answer nothing, until the test ends
                return
            if mode in ("truncate", "huge"):
                self._read_request(conn)
                if mode == "truncate":
                    body = b'{"data": {"tickets": [{"ticket_id": 1, "title": "cut'
                    head = f"Content-Length: {len(body) + 5000}\r\n"
                else:
                    body = b"[" + b" " * 65536
                    head = f"Content-Length: {1 << 30}\r\n"
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + head.encode()
                    + b"Connection: close\r\n\r\n"
                    + body
                )
                return
            self._pump(conn)
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    @staticmethod
    def _read_request(conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk

    def _pump(self, conn: socket.socket) -> None:
        backend = socket.create_connection(("127.0.0.1", self.backend_port), timeout=5)
        backend.settimeout(None)
        self._track(backend)
        try:
            peers = {conn: backend, backend: conn}
            while not self._stop.is_set():
                pending = [s for s in peers if isinstance(s, ssl.SSLSocket) and s.pending()]
                readable = pending or select.select(list(peers), [], [], 0.2)[0]
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            with contextlib.suppress(OSError):
                backend.close()


# --------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class Certs:
    """A CA bundle the source trusts, and server certificates for 127.0.0.1."""

    ca_file: Path
    good: tuple[Path, Path]  # (cert, key) signed by the CA, valid now
    expired: tuple[Path, Path]  # signed by the CA, expired last year
    self_signed: tuple[Path, Path]  # valid dates, but nobody vouches for it

    @staticmethod
    def context(pair: tuple[Path, Path]) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(pair[0]), str(pair[1]))
        return ctx


def make_certs(folder: Path) -> Certs:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    folder.mkdir(parents=True, exist_ok=True)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return path

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("Ticketbell test CA"))
        .issuer_name(name("Ticketbell test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    def server(label: str, start: dt.datetime, end: dt.datetime, signed_by_ca: bool):
        key = ec.generate_private_key(ec.SECP256R1())
        issuer, signer = (ca_cert.subject, ca_key) if signed_by_ca else (name(label), key)
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(label))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        )
        if signed_by_ca:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        cert = builder.sign(signer, hashes.SHA256())
        cert_path = folder / f"{label}.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cert_path, write_key(key, folder / f"{label}.key")

    return Certs(
        ca_file=ca_file,
        good=server("good", now - dt.timedelta(hours=1), now + dt.timedelta(days=7), True),
        expired=server("expired", now - dt.timedelta(days=400), now - dt.timedelta(days=35), True),
        self_signed=server(
            "self-signed", now - dt.timedelta(hours=1), now + dt.timedelta(days=7), False
        ),
    )
