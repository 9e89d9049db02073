"""What subscribers will receive, shown before a support engineer posts (pure).

The preview goes through the real fan-out and renderer (`status.notify.notices_for` and
`email_notice`, the same Jinja templates) with the event the action would announce, and
returns the rendering instead of enqueuing it: nothing is sent or saved. The email is shown
for a sample subscriber; only its personal manage and unsubscribe links differ from what
each subscriber gets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from jinja2 import Environment

from status.notify import Audience, Event, email_notice, notices_for
from status.subscriptions import Links

#: The subscriber the shown email is rendered for (no real address is shown).
SAMPLE = Audience(0, "email", "subscriber@example.com", ())
CHANNELS = {"email": "email", "webhook": "webhook", "apprise": "chat channel"}


@dataclass(frozen=True, slots=True)
class NoticePreview:
    """The notice an action would send: its email, whom it names, who gets it and when."""

    subject: str
    text: str
    html: str
    affected: tuple[tuple[str, str], ...]
    recipients: tuple[tuple[str, int], ...]
    timing: str
    sample_address: str = SAMPLE.address

    @property
    def regions(self) -> list[str]:
        return sorted({region for _, region in self.affected})

    @property
    def affected_summary(self) -> str:
        if not self.affected:
            return "no component"
        return ", ".join(f"{c} ({r})" for c, r in self.affected)

    @property
    def recipient_summary(self) -> str:
        """e.g. '2 emails, 1 webhook'; 'nobody' when no active subscriber hears of it."""
        parts = [f"{n} {CHANNELS.get(kind, kind)}{'s' if n != 1 else ''}"
                 for kind, n in self.recipients if n]
        return ", ".join(parts) if parts else "nobody (no active subscriber of these)"


def preview_notice(event: Event, audience: Sequence[Audience], env: Environment,
                   links: Links, base_url: str, timing: str) -> NoticePreview:
    """Render `event` as the outbox would get it, for everyone in `audience` who hears of it
    (counted per channel) and as the email a sample subscriber would read."""
    fan_out = notices_for(event, audience, env, links, base_url)
    counts = Counter(notice.channel for notice in fan_out)
    payload = email_notice(event, SAMPLE, env, links, base_url).payload
    return NoticePreview(subject=str(payload["subject"]), text=str(payload["text"]),
                         html=str(payload["html"]), affected=event.affected,
                         recipients=tuple(sorted(counts.items())), timing=timing)


def nothing_sent(event: Event, timing: str) -> NoticePreview:
    """An action that sends nothing (e.g. resolving what subscribers never heard of)."""
    return NoticePreview(subject="", text="", html="", affected=event.affected,
                         recipients=(), timing=timing)
