"""DNS checks: ask a resolver for a name's records and judge the answer (dnspython).

The resolver is the probe's own (`resolver`), else its location's (the config file's
`[locations.<name>] resolver`), else the system's first nameservers (/etc/resolv.conf).
The query goes to that resolver directly (UDP, TCP when the answer is truncated), with the
name taken as absolute: a check must not depend on the search domains of the host it runs
on. What it saw becomes an `Observation` (rcode, answers, response_time) for conditions.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.resolver

from core.clock import Clock
from probes.conditions import Observation
from probes.specs import ProbeSpec, resolver_address

NAME_TYPES = frozenset({"CNAME", "NS", "PTR"})


class DnsFailed(Exception):
    """No resolver answered, or the answer fails the probe; the reason says which."""


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    """What the resolver said: its rcode, the answers of the asked type (sorted: an RRset
    has no order), the time taken."""

    resolver: str
    rcode: str
    answers: tuple[str, ...]
    response_ms: float

    def observation(self) -> Observation:
        return Observation({"rcode": self.rcode, "answers": list(self.answers),
                            "response_time": round(self.response_ms, 3)})


def location_resolvers(extra: Mapping[str, Any]) -> dict[str, tuple[str, int]]:
    """Each location's resolver from the config file's `[locations.<name>] resolver = ...`;
    ValueError names the location whose resolver is not an address."""
    locations = extra.get("locations", {})
    if not isinstance(locations, Mapping):
        raise ValueError("'locations' must map location names to tables")
    resolvers = {}
    for name, table in locations.items():
        resolver = table.get("resolver") if isinstance(table, Mapping) else None
        if resolver is None:
            continue
        try:
            resolvers[str(name)] = resolver_address(str(resolver))
        except ValueError as exc:
            raise ValueError(f"locations.{name}.resolver {exc}") from None
    return resolvers


def system_resolvers() -> list[tuple[str, int]]:
    """The host's nameservers, as /etc/resolv.conf lists them."""
    try:
        configured = dns.resolver.Resolver(configure=True)
    except dns.resolver.NoResolverConfiguration:
        return []
    return [(str(server), configured.port) for server in configured.nameservers
            if _is_address(str(server))]


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def normalise(record: str, text: str) -> str:
    """An answer as compared with expectations: names lower-case without the final dot,
    addresses in their canonical form, TXT as its text.

    >>> normalise("MX", "10 Mail.Example.COM."), normalise("AAAA", "2001:DB8::0:1")
    ('10 mail.example.com', '2001:db8::1')
    """
    if record in ("A", "AAAA"):
        try:
            return str(ipaddress.ip_address(text.strip()))
        except ValueError:
            return text.strip()
    if record == "TXT":
        return text.strip()
    return " ".join(part.rstrip(".") if part != "." else part
                    for part in text.lower().split())


def _answer_text(record: str, rdata: dns.rdata.Rdata) -> str:
    if record == "TXT":
        strings: Sequence[bytes] = getattr(rdata, "strings", ())
        return b"".join(strings).decode("utf-8", "replace")
    return normalise(record, rdata.to_text())


async def query(spec: ProbeSpec, resolvers: Sequence[tuple[str, int]], clock: Clock,
                timeout_s: float) -> DnsAnswer:
    """Ask the first resolver that answers for `spec.target`'s `spec.record` records."""
    if not resolvers:
        raise DnsFailed("no resolver: none named for the probe or its location, "
                        "and /etc/resolv.conf lists none")
    try:
        request = dns.message.make_query(dns.name.from_text(spec.target or "."), spec.record)
    except dns.exception.DNSException as exc:  # parse_probe refuses such names already
        raise DnsFailed(f"cannot ask for {spec.target!r}: {exc}") from None
    rdtype = dns.rdatatype.from_text(spec.record)
    reasons = []
    for address, port in resolvers:
        began = clock.monotonic()
        try:
            response, _tcp = await dns.asyncquery.udp_with_fallback(
                request, address, timeout=timeout_s / len(resolvers), port=port)
        except (dns.exception.DNSException, OSError) as exc:
            reasons.append(f"{address}:{port}: {_why(exc, timeout_s / len(resolvers))}")
            continue
        answers = tuple(sorted(_answer_text(spec.record, rdata) for rrset in response.answer
                               if rrset.rdtype == rdtype for rdata in rrset))
        return DnsAnswer(f"{address}:{port}", dns.rcode.to_text(response.rcode()), answers,
                         (clock.monotonic() - began) * 1000)
    raise DnsFailed("no answer from " + "; ".join(reasons))


def _why(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, dns.exception.Timeout):
        return f"no answer within {timeout_s:g} s"
    return f"{type(exc).__name__}: {exc}"


def failure(spec: ProbeSpec, answer: DnsAnswer) -> str | None:
    """Why the answer fails the probe's own expectations, or None.

    Unless a condition judges the rcode itself, the name must exist (NOERROR) and have at
    least one record of the type; each expected answer must be among the answers.
    """
    asked = f"{spec.record} {spec.target}"
    if not any(condition.subject == "rcode" for condition in spec.conditions):
        if answer.rcode != "NOERROR":
            return f"{asked}: {answer.rcode} from {answer.resolver}"
        if not answer.answers:
            return f"{asked}: no {spec.record} records (from {answer.resolver})"
    missing = [expected for expected in spec.answers
               if normalise(spec.record, expected) not in answer.answers]
    if missing:
        return (f"{asked}: expected {', '.join(missing)} among the answers, "
                f"got {', '.join(answer.answers) or 'none'} (from {answer.resolver})")
    return None
