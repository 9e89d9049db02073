"""DNS and ICMP probes and assertions through the admin API and the config file, and running
in `bellwether up`: stored checks, evaluated states."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient

from core.config import load_settings
from probes.icmp_check import icmp_refusal
from probes.service import configured_probes, configured_resolvers
from probes.specs import ProbeKind
from tests.probes.dns_server import DnsServer
from tests.support.databases import create_database, drop_database
from tests.support.processes import BellwetherProcess
from tests.support.waiting import wait_until

REGION = "europe-west1.gcp"
TOKEN = "bw_e2e_admin_token_dns_icmp_0123"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_dns_and_icmp_probes_are_defined_through_the_api(client: FlaskClient,
                                                         admin_token: str) -> None:
    suffix = uuid.uuid4().hex[:6]
    dns_body = {"component": "storefront-dns", "region": REGION, "kind": "dns",
                "target": "shop.example.test", "record": "AAAA",
                "answers": ["2001:db8::10"], "resolver": "127.0.0.1:5353",
                "assert": ["response_time < 200", "answers contains 2001:db8::10"]}
    made = client.put(f"/api/v1/probes/dns-{suffix}", json=dns_body,
                      headers=bearer(admin_token))
    assert made.status_code == 200, made.get_json()
    assert made.get_json()["warnings"] == []
    icmp = client.put(f"/api/v1/probes/ping-{suffix}", headers=bearer(admin_token),
                      json={"component": "network", "region": REGION, "kind": "icmp",
                            "target": "127.0.0.1", "count": 2,
                            "assert": ["packet_loss < 50"]})
    assert icmp.status_code == 200, icmp.get_json()
    why = icmp_refusal()
    assert icmp.get_json()["warnings"] == ([] if why is None else
                                           [f"its checks from this server will fail: {why}"])
    listed = {p["name"]: p for p in client.get(
        "/api/v1/probes", headers=bearer(admin_token)).get_json()["probes"]}
    mine = listed[f"dns-{suffix}"]
    assert (mine["kind"], mine["record"], mine["answers"], mine["resolver"]) == (
        "dns", "AAAA", ["2001:db8::10"], "127.0.0.1:5353")
    assert mine["assert"] == ["response_time < 200", "answers contains 2001:db8::10"]
    assert listed[f"ping-{suffix}"]["count"] == 2
    for name in (f"dns-{suffix}", f"ping-{suffix}"):
        assert client.delete(f"/api/v1/probes/{name}",
                             headers=bearer(admin_token)).status_code == 200


@pytest.mark.parametrize(("body", "message"), [
    ({"kind": "dns", "target": "shop.example.test", "record": "ANY"}, "'record' must be one of"),
    ({"kind": "icmp", "target": "127.0.0.1", "assert": ["rcode == NOERROR"]},
     "the subject must be one of response_time, packet_loss"),
    ({"kind": "icmp"}, "needs 'target', the host to ping"),
    ({"kind": "gopher", "target": "x"}, "'kind' must be http, tcp, tls, dns or icmp"),
    ({"base_url": "http://127.0.0.1:9", "steps": [{"path": "/", "assert": ["status = 200"]}]},
     "is not 'subject operator value'"),
])
def test_the_api_says_what_is_wrong_with_a_probe(client: FlaskClient, admin_token: str,
                                                 body: dict[str, Any], message: str) -> None:
    answer = client.put("/api/v1/probes/bad-probe", headers=bearer(admin_token),
                        json={"component": "c", "region": REGION, **body})
    assert answer.status_code == 400
    assert message in answer.get_json()["detail"]


CONFIG = '''
probe_interval_s = 2
[locations.loc-a]
resolver = "{resolver}"
[locations.loc-b]
resolver = "{resolver}"
[locations.loc-c]
resolver = "{resolver}"

[[probes]]
name = "shop-dns"
component = "shop-dns"
region = "europe-west1.gcp"
kind = "dns"
target = "shop.example.test"
answers = ["192.0.2.10"]
assert = ["response_time < 5000"]

[[probes]]
name = "shop-dns-wrong"
component = "shop-dns-wrong"
region = "europe-west1.gcp"
kind = "dns"
target = "shop.example.test"
answers = ["192.0.2.99"]

[[probes]]
name = "loopback-ping"
component = "loopback-ping"
region = "europe-west1.gcp"
kind = "icmp"
target = "127.0.0.1"
count = 1
'''


def test_the_config_file_declares_dns_icmp_probes_and_location_resolvers(
        tmp_path: Path) -> None:
    config = tmp_path / "bellwether.toml"
    config.write_text(CONFIG.format(resolver="127.0.0.1:5353"), encoding="utf-8")
    settings = load_settings({}, config)
    probes = {p.name: p for p in configured_probes(settings)}
    assert probes["shop-dns"].kind is ProbeKind.DNS
    assert probes["shop-dns"].answers == ("192.0.2.10",)
    assert probes["loopback-ping"].ping_count == 1
    assert configured_resolvers(settings)["loc-b"] == ("127.0.0.1", 5353)


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    url = create_database(tmp_path, "kinds")
    yield url
    drop_database(url)


def _checks(process: BellwetherProcess, component: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{process.url}/api/v1/checks", headers=bearer(TOKEN), timeout=10,
                       params={"component": component, "region": REGION})
    assert answer.status_code == 200, answer.text
    checks: list[dict[str, Any]] = answer.json()["checks"]
    return checks


def _state(process: BellwetherProcess, component: str) -> dict[str, Any] | None:
    states = httpx.get(f"{process.url}/api/v1/states", timeout=10).json()["states"]
    return next((s for s in states if s["component"] == component), None)


@pytest.mark.e2e
def test_dns_and_icmp_probes_run_in_up_from_config_and_the_api(tmp_path: Path,
                                                                database_url: str) -> None:
    records = {("shop.example.test.", "A"): ["192.0.2.10"],
               ("api.example.test.", "A"): ["192.0.2.20"]}
    can_ping = icmp_refusal() is None
    with DnsServer(records) as location_dns, DnsServer(records) as probe_dns:
        config = tmp_path / "bellwether.toml"
        config.write_text(CONFIG.format(resolver=location_dns.address), encoding="utf-8")
        process = BellwetherProcess(tmp_path / "data", database_url, TOKEN,
                                    extra_env={"BELLWETHER_CONFIG": str(config)})
        try:
            process.start(timeout=90)
            ok_by_location = wait_until(
                lambda: {c["location"] for c in _checks(process, "shop-dns") if c["ok"]}
                == {"loc-a", "loc-b", "loc-c"}, timeout=60, message="shop-dns checks")
            assert ok_by_location
            check = _checks(process, "shop-dns")[0]
            assert set(check["timings"]) == {"dns_ms", "total_ms"}
            assert check["figures"] == {"answers": 1.0}
            wrong = wait_until(lambda: _checks(process, "shop-dns-wrong"), timeout=30)
            assert not wrong[0]["ok"]
            assert "expected 192.0.2.99 among the answers" in wrong[0]["error"]
            assert wait_until(lambda: (s := _state(process, "shop-dns")) and
                              s["state"] == "operational", timeout=30, message="dns state")
            assert wait_until(lambda: (s := _state(process, "shop-dns-wrong")) and
                              s["state"] != "operational" and s["state"] != "no_data",
                              timeout=60, message="the wrong answer's state")

            made = httpx.put(f"{process.url}/api/v1/probes/api-dns", headers=bearer(TOKEN),
                             timeout=10, json={
                                 "component": "api-dns", "region": REGION, "kind": "dns",
                                 "target": "api.example.test", "interval_s": 2,
                                 "resolver": probe_dns.address,
                                 "assert": ["answers == 192.0.2.20"]})
            assert made.status_code == 200, made.text
            wait_until(lambda: any(c["ok"] for c in _checks(process, "api-dns")),
                       timeout=30, message="checks of the probe made through the API")
            assert ("api.example.test.", "A") in probe_dns.queries

            pings = wait_until(lambda: _checks(process, "loopback-ping"), timeout=30)
            if can_ping:
                assert pings[0]["ok"], pings[0]["error"]
                assert pings[0]["figures"]["packets_received"] == 1.0
            else:
                assert "ICMP echo is not permitted here" in pings[0]["error"]
                assert any("ICMP echo is not permitted here" in line for line in process.lines)
        finally:
            assert process.stop(signal.SIGTERM) == 0


REFUSED = "ICMP echo is not permitted here: (forced at the seam for this test)"


def test_where_ping_is_refused_the_api_and_start_up_say_so(
        client: FlaskClient, admin_token: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """This machine may well allow ping, so the refusal is forced at its one seam."""
    monkeypatch.setattr("probes.views.icmp_refusal", lambda: REFUSED)
    monkeypatch.setattr("probes.service.icmp_refusal", lambda: REFUSED)
    name = f"ping-{uuid.uuid4().hex[:6]}"
    made = client.put(f"/api/v1/probes/{name}", headers=bearer(admin_token),
                      json={"component": "network", "region": REGION, "kind": "icmp",
                            "target": "127.0.0.1"})
    assert made.status_code == 200
    assert made.get_json()["warnings"] == [f"its checks from this server will fail: {REFUSED}"]
    dns = client.put(f"/api/v1/probes/{name}-dns", headers=bearer(admin_token),
                     json={"component": "network", "region": REGION, "kind": "dns",
                           "target": "shop.example.test"})
    assert dns.get_json()["warnings"] == []
    for each in (name, f"{name}-dns"):
        client.delete(f"/api/v1/probes/{each}", headers=bearer(admin_token))

    config = tmp_path / "bellwether.toml"
    config.write_text(CONFIG.format(resolver="127.0.0.1:5353"), encoding="utf-8")
    configured_probes(load_settings({}, config))
    assert [record.getMessage() for record in caplog.records] == [
        f"icmp probes will fail from this process's locations: {REFUSED}"]
