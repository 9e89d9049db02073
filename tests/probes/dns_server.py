"""A tiny authoritative DNS server on loopback UDP for tests, built on dnspython's message
API: it answers from a dict of records, NXDOMAIN for names it does not know, and can be
told to stay silent (a resolver that does not answer)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Mapping, Sequence
from types import TracebackType

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class DnsServer:
    """Serves `records` {(name, type): [rdata text, ...]} on 127.0.0.1:<free port>.

    >>> with DnsServer({("shop.test.", "A"): ["192.0.2.10"]}) as server: ...
    """

    def __init__(self, records: Mapping[tuple[str, str], Sequence[str]],
                 silent: bool = False) -> None:
        self.records = {(dns.name.from_text(name), dns.rdatatype.from_text(kind)): list(data)
                        for (name, kind), data in records.items()}
        self.silent = silent
        self.queries: list[tuple[str, str]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = int(self.sock.getsockname()[1])
        self.address = f"127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> DnsServer:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            query = dns.message.from_wire(wire)
            question = query.question[0]
            self.queries.append((question.name.to_text(),
                                 dns.rdatatype.to_text(question.rdtype)))
            if not self.silent:
                self.sock.sendto(self._answer(query).to_wire(), peer)

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        question = query.question[0]
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        data = self.records.get((question.name, question.rdtype))
        if data is None and not any(name == question.name for name, _ in self.records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif data:
            response.answer.append(dns.rrset.from_text_list(
                question.name, 60, dns.rdataclass.IN, question.rdtype, data))
        return response
