"""ICMP checks: echo requests to a host (icmplib), unprivileged where the kernel allows.

Linux lets a process send ICMP echo without privileges through a datagram ICMP socket
when its group is within `net.ipv4.ping_group_range` (IPv6 uses the same setting). Where
the range leaves the group out (the default "1 0" excludes everyone), only a raw socket
works, and that needs root or CAP_NET_RAW. A check tries the datagram socket first, then
the raw one; when both are refused it fails saying why and how to allow it, and
`icmp_refusal()` says the same to the probe API and at start-up.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import icmplib  # type: ignore[import-untyped]

from probes.conditions import Observation

PING_GROUP_RANGE = Path("/proc/sys/net/ipv4/ping_group_range")
PING_INTERVAL_S = 0.2  # between echo requests of one check


class IcmpFailed(Exception):
    """The echo could not be sent (not permitted, unknown name, no route); says why."""


@dataclass(frozen=True, slots=True)
class PingResult:
    """Echo requests sent and replies received, their round trips, and how they were sent."""

    address: str
    sent: int
    rtts_ms: tuple[float, ...]
    privileged: bool

    @property
    def packet_loss(self) -> float:
        """Per cent of requests without a reply."""
        return 100.0 if not self.sent else round(100 * (1 - len(self.rtts_ms) / self.sent), 3)

    @property
    def average_ms(self) -> float | None:
        return sum(self.rtts_ms) / len(self.rtts_ms) if self.rtts_ms else None

    def observation(self) -> Observation:
        values: dict[str, float] = {"packet_loss": self.packet_loss}
        if self.average_ms is not None:
            values["response_time"] = round(self.average_ms, 3)
        return Observation(values)

    def timings(self) -> dict[str, float]:
        if not self.rtts_ms:
            return {}
        return {"rtt_min_ms": round(min(self.rtts_ms), 3),
                "rtt_avg_ms": round(self.average_ms or 0.0, 3),
                "rtt_max_ms": round(max(self.rtts_ms), 3)}

    def figures(self) -> dict[str, float]:
        return {"packets_sent": float(self.sent), "packets_received": float(len(self.rtts_ms)),
                "packet_loss_pct": self.packet_loss}


def ping_group_range() -> str | None:
    """The kernel's `net.ipv4.ping_group_range`, or None off Linux."""
    try:
        return PING_GROUP_RANGE.read_text(encoding="utf-8").split("\n")[0].replace("\t", " ")
    except OSError:
        return None


def refusal_reason(group_range: str | None, gid: int, uid: int) -> str:
    """Why this process may not send ICMP echo, and what allows it (a sentence)."""
    setting = ("" if group_range is None else
               f"the kernel's net.ipv4.ping_group_range is '{group_range}', which leaves out "
               f"this process's group {gid}, and ")
    return (f"ICMP echo is not permitted here: {setting}the process (uid {uid}) has no "
            f"CAP_NET_RAW for a raw socket. Allow unprivileged ping with `sysctl -w "
            f"net.ipv4.ping_group_range=\"{gid} {gid}\"` (or a range including group {gid}), "
            f"or grant CAP_NET_RAW, or run this probe from an agent where ping is allowed")


def _reason() -> str:
    return refusal_reason(ping_group_range(), os.getgid(), os.getuid())


def icmp_refusal() -> str | None:
    """None when this process can send ICMP echo (either way), else why it cannot."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_RAW):
        try:
            socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP).close()
        except PermissionError:
            continue
        except OSError:
            return None  # permitted, but something else is wrong: the check will say what
        return None
    return _reason()


async def ping(host: str, count: int, timeout_s: float) -> PingResult:
    """Send `count` echo requests to `host`: unprivileged when the kernel allows it, else
    on a raw socket; IcmpFailed when neither is permitted or the host cannot be reached."""
    per_reply_s = max(0.1, (timeout_s - PING_INTERVAL_S * (count - 1)) / count)
    for privileged in (False, True):
        try:
            host_result = await icmplib.async_ping(
                host, count=count, interval=PING_INTERVAL_S, timeout=per_reply_s,
                privileged=privileged)
        except icmplib.SocketPermissionError:
            continue
        except icmplib.NameLookupError:
            raise IcmpFailed(f"the name {host!r} cannot be resolved") from None
        except icmplib.ICMPLibError as exc:
            raise IcmpFailed(f"{type(exc).__name__}: {exc}") from None
        return PingResult(str(host_result.address), int(host_result.packets_sent),
                          tuple(float(rtt) for rtt in host_result.rtts), privileged)
    raise IcmpFailed(_reason())
