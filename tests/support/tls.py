"""Self-signed certificates made by the test, and a TLS server that presents one."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from pathlib import Path


def self_signed(directory: Path, days: int = 30, name: str = "cert") -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 valid `days` days, and its key (openssl)."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", str(days), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class TlsServer:
    """Accepts TLS connections on 127.0.0.1 and closes them after the handshake."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._stopped = False

    def start(self) -> TlsServer:
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                conn.close()

    def stop(self) -> None:
        self._stopped = True
        self.sock.close()
        self._thread.join(timeout=5)
