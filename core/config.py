"""Settings: one table of environment variable → field → parser → default.

The environment wins over the optional TOML file (`BELLWETHER_CONFIG`, or `--config`), whose
keys are the field names. Nothing else in Bellwether reads `os.environ`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core.errors import ConfigError

DEFAULT_REGIONS = ("europe-west1.gcp", "us-central1.gcp", "australia-southeast1.gcp")


@dataclass(frozen=True)
class Settings:
    """Everything Bellwether can be told; travels as an argument, never read globally."""

    data_dir: Path = Path("var")
    database_url: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    probe_interval_s: int = 30
    confirmations: int = 2
    #: Seconds between confirmation re-checks after a failed check, until the failure run is
    #: confirmed or a check passes (then the probe's own interval resumes).
    retry_interval_s: int = 5
    admin_token: str | None = None
    pagerduty_events_url: str = "https://events.pagerduty.com"
    pagerduty_ca_bundle: str | None = None
    pagerduty_routing_key_tier1: str | None = None
    pagerduty_routing_key_tier2: str | None = None
    smtp_url: str | None = None
    public_url: str = ""
    secret_key: str | None = None
    regions: tuple[str, ...] = DEFAULT_REGIONS
    commerce_port_base: int = 0
    max_body_bytes: int = 1_048_576
    #: Threads of the web listener. Few on purpose: the public pages are answered from memory
    #: by the static copy, and on one core more threads only share the GIL more unfairly; with
    #: 64 clients the hello-world's p99 was 31.6 ms on 4 threads, 42.2 on 6 and 61.6 on 16,
    #: at the same rate (docs/benchmarks.md, "Status page under load"). Raise it when slow
    #: views (SLA exports, admin pages on a distant database) have to run side by side.
    server_threads: int = 4
    #: Certificates with fewer days left are listed (`/api/v1/tls`) and paged to the Tier 2
    #: key once per threshold (this, 7 and 1 days).
    tls_warn_days: int = 14
    #: On-call's extra escalation targets per tier, as Apprise URLs (`slack://…`,
    #: `ntfy://…`): each gets every PagerDuty trigger, acknowledge and resolve of its tier.
    escalation_channels_tier1: tuple[str, ...] = ()
    escalation_channels_tier2: tuple[str, ...] = ()
    #: Child processes `bellwether up` runs its probes in (1: on the main process, as ever).
    #: (component, region) pairs are split among them by a stable hash, so one `up` can use
    #: more than one core when its probes need it (probes.shards).
    probe_processes: int = 1
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'bellwether.sqlite').resolve()}"

    @property
    def effective_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.http_host}:{self.http_port}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")


def parse_bool(name: str, raw: str) -> bool:
    if raw in ("true", "1"):
        return True
    if raw in ("false", "0"):
        return False
    raise ConfigError(f"{name} must be 'true' or 'false', not {raw!r}")


def parse_int(minimum: int, maximum: int = 2**31) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
        if not minimum <= value <= maximum:
            raise ConfigError(f"{name} must be between {minimum} and {maximum}, not {value}")
        return value

    return parse


def parse_str(name: str, raw: str) -> str:
    return raw


def parse_optional(name: str, raw: str) -> str | None:
    return raw or None


def parse_path(name: str, raw: str) -> Path:
    if not raw:
        raise ConfigError(f"{name} must not be empty")
    return Path(raw)


def parse_https_url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme != "https" or not parts.netloc:
        raise ConfigError(f"{name} must be an https:// URL (the PagerDuty client refuses others)")
    return raw.rstrip("/")


def parse_smtp_url(name: str, raw: str) -> str | None:
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError(f"{name} must look like smtp://host:port, not {raw!r}")
    return raw


def parse_regions(name: str, raw: str) -> tuple[str, ...]:
    regions = tuple(part.strip() for part in raw.split(",") if part.strip())
    if not regions:
        raise ConfigError(f"{name} must name at least one region")
    return regions


def parse_channel_urls(name: str, raw: str) -> tuple[str, ...]:
    """Apprise URLs separated by commas or white space (a TOML list in the file); each must
    be one Apprise can send to."""
    from alerts.senders.channel import channel_plugin  # Apprise, loaded only when used

    urls = tuple(part for part in raw.replace(",", " ").split() if part)
    for url in urls:
        if channel_plugin(url) is None:
            raise ConfigError(f"{name}: {url.split('://', 1)[0]}://… is not an Apprise URL "
                              "Bellwether can send to")
    return urls


Parser = Callable[[str, str], Any]

#: field name, environment variable, parser
TABLE: tuple[tuple[str, str, Parser], ...] = (
    ("data_dir", "BELLWETHER_DATA_DIR", parse_path),
    ("database_url", "BELLWETHER_DATABASE_URL", parse_str),
    ("http_host", "BELLWETHER_HTTP_HOST", parse_str),
    ("http_port", "BELLWETHER_HTTP_PORT", parse_int(0, 65535)),
    ("probe_interval_s", "BELLWETHER_PROBE_INTERVAL_S", parse_int(1, 86400)),
    ("confirmations", "BELLWETHER_CONFIRMATIONS", parse_int(1, 100)),
    ("retry_interval_s", "BELLWETHER_RETRY_INTERVAL_S", parse_int(1, 3600)),
    ("admin_token", "BELLWETHER_ADMIN_TOKEN", parse_optional),
    ("pagerduty_events_url", "BELLWETHER_PAGERDUTY_EVENTS_URL", parse_https_url),
    ("pagerduty_ca_bundle", "BELLWETHER_PAGERDUTY_CA_BUNDLE", parse_optional),
    ("pagerduty_routing_key_tier1", "BELLWETHER_PAGERDUTY_ROUTING_KEY_TIER1", parse_optional),
    ("pagerduty_routing_key_tier2", "BELLWETHER_PAGERDUTY_ROUTING_KEY_TIER2", parse_optional),
    ("smtp_url", "BELLWETHER_SMTP_URL", parse_smtp_url),
    ("public_url", "BELLWETHER_PUBLIC_URL", parse_str),
    ("secret_key", "BELLWETHER_SECRET_KEY", parse_optional),
    ("regions", "BELLWETHER_REGIONS", parse_regions),
    ("commerce_port_base", "BELLWETHER_COMMERCE_PORT_BASE", parse_int(0, 65000)),
    ("max_body_bytes", "BELLWETHER_MAX_BODY_BYTES", parse_int(1024)),
    ("server_threads", "BELLWETHER_SERVER_THREADS", parse_int(1, 512)),
    ("tls_warn_days", "BELLWETHER_TLS_WARN_DAYS", parse_int(1, 365)),
    ("escalation_channels_tier1", "BELLWETHER_ESCALATION_CHANNELS_TIER1", parse_channel_urls),
    ("escalation_channels_tier2", "BELLWETHER_ESCALATION_CHANNELS_TIER2", parse_channel_urls),
    ("probe_processes", "BELLWETHER_PROBE_PROCESSES", parse_int(1, 64)),
)

SECRET_FIELDS = ("admin_token", "pagerduty_routing_key_tier1", "pagerduty_routing_key_tier2",
                 "smtp_url", "secret_key", "escalation_channels_tier1",
                 "escalation_channels_tier2")


def _file_value(name: str, raw: Any) -> str:
    """TOML gives typed values; the parsers take text, so every source is checked alike."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, list):
        return ",".join(str(item) for item in raw)
    return str(raw)


def load_settings(
    environ: Mapping[str, str] | None = None, config_file: Path | None = None
) -> Settings:
    """Build Settings from the environment and an optional TOML file (the environment wins)."""
    env = os.environ if environ is None else environ
    if config_file is None and env.get("BELLWETHER_CONFIG"):
        config_file = Path(env["BELLWETHER_CONFIG"])
    file_values: dict[str, Any] = {}
    if config_file is not None:
        try:
            file_values = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc}") from exc
    known = {f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    for name, var, parser in TABLE:
        if var in env:
            values[name] = parser(var, env[var])
        elif name in file_values:
            values[name] = parser(f"{config_file}: {name}", _file_value(name, file_values[name]))
        elif f"{var}_FILE" in env and name in SECRET_FIELDS:
            secret = Path(env[f"{var}_FILE"]).read_text(encoding="utf-8").strip()
            values[name] = parser(var, secret)
    extra = {key: value for key, value in file_values.items() if key not in known}
    return replace(Settings(), **values, extra=extra)
