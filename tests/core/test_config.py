"""Settings come from one table; the environment wins over the file; bad values are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import load_settings
from core.errors import ConfigError


def test_it_has_the_contract_defaults() -> None:
    settings = load_settings({})
    assert settings.http_host == "127.0.0.1"
    assert settings.http_port == 8000
    assert settings.probe_interval_s == 30
    assert settings.confirmations == 2
    assert settings.data_dir == Path("var")
    assert settings.effective_database_url.endswith("var/bellwether.sqlite")
    assert settings.effective_public_url == "http://127.0.0.1:8000"
    assert settings.regions == ("europe-west1.gcp", "us-central1.gcp",
                                "australia-southeast1.gcp")


def test_the_environment_wins_over_the_file(tmp_path: Path) -> None:
    config = tmp_path / "bellwether.toml"
    config.write_text('http_port = 9000\nprobe_interval_s = 10\nregions = ["x-1", "y-2"]\n')
    settings = load_settings({"BELLWETHER_HTTP_PORT": "9100"}, config)
    assert settings.http_port == 9100
    assert settings.probe_interval_s == 10
    assert settings.regions == ("x-1", "y-2")


def test_the_config_file_can_be_named_in_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "b.toml"
    config.write_text('smtp_url = "smtp://127.0.0.1:2525"\n')
    assert load_settings({"BELLWETHER_CONFIG": str(config)}).smtp_url == "smtp://127.0.0.1:2525"


def test_secrets_can_come_from_files(tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("routing-key-1\n")
    settings = load_settings({"BELLWETHER_PAGERDUTY_ROUTING_KEY_TIER1_FILE": str(secret)})
    assert settings.pagerduty_routing_key_tier1 == "routing-key-1"


@pytest.mark.parametrize(("env", "message"), [
    ({"BELLWETHER_HTTP_PORT": "eighty"}, "BELLWETHER_HTTP_PORT must be a whole number"),
    ({"BELLWETHER_PROBE_INTERVAL_S": "0"}, "BELLWETHER_PROBE_INTERVAL_S must be between 1"),
    ({"BELLWETHER_PAGERDUTY_EVENTS_URL": "http://127.0.0.1"}, "must be an https:// URL"),
    ({"BELLWETHER_SMTP_URL": "mail.example"}, "must look like smtp://host:port"),
    ({"BELLWETHER_REGIONS": " , "}, "at least one region"),
])
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_an_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("http_port = = 1")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings({}, broken)
