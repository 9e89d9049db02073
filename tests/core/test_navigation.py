"""After logging in, each role lands on its own home, and its navigation offers exactly the
pages it may open: every link answers 200 for it, every page it is not offered answers 403."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import Engine

from core.models import Role
from core.navigation import LINKS, home_endpoint, links_for
from tests.core.test_login import a_user, log_in

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
HOMES = {Role.ADMIN: "/admin", Role.SUPPORT: "/admin/incidents",
         Role.ACCOUNT_MANAGER: "/reports/customers"}


def test_every_link_names_a_page_that_exists(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert {link.endpoint for link in LINKS} <= endpoints
    assert home_endpoint(None) == "public.overview"
    assert links_for(Role.AGENT) == []


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SUPPORT, Role.ACCOUNT_MANAGER])
def test_each_role_lands_on_its_home_and_sees_only_what_it_may_open(
        app: Flask, engine: Engine, role: Role) -> None:
    client = app.test_client()
    landed = log_in(client, a_user(engine, role))
    assert landed.status_code == 303
    assert landed.headers["Location"] == HOMES[role]
    home = client.get(HOMES[role], headers=BROWSER)
    assert home.status_code == 200
    html = home.get_data(as_text=True)
    nav = html[html.index('<nav aria-label="Main"'):html.index("</nav>")]
    offered = re.findall(r'<a href="([^"]+)"', nav)
    with app.test_request_context():
        from flask import url_for

        mine = [url_for(link.endpoint) for link in links_for(role)]
        everything = {url_for(link.endpoint) for link in LINKS}
    assert offered == mine
    assert offered[0] == HOMES[role]
    for path in mine:
        assert client.get(path, headers=BROWSER).status_code == 200, path
    for path in everything - set(mine):
        refused = client.get(path, headers=BROWSER)
        assert refused.status_code == 403, path
        assert "Not for your role" in refused.get_data(as_text=True)


def test_a_return_link_wins_over_the_home(app: Flask, engine: Engine) -> None:
    client = app.test_client()
    landed = log_in(client, a_user(engine, Role.ADMIN), next="/admin/probes")
    assert landed.headers["Location"] == "/admin/probes"
