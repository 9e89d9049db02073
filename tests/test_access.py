"""Every endpoint of the app is either deliberately public or refuses an anonymous caller:
a new endpoint that forgets its role check fails here."""

from __future__ import annotations

import re
import uuid

from flask import Flask

PUBLIC = {
    "public.overview", "public.region_page", "public.incident_page", "public.history",
    "public.statuspage_json", "public.statuspage_region_json", "public.atom",
    "public.region_atom", "public.history_atom", "public.history_rss", "public.region_latency",
    "public.plotly", "public.region_badge_svg", "public.component_badge_svg",
    "public.uptime_badge_svg", "public.embed", "public.region_embed",
    "public.region_history_atom", "public.region_history_rss", "public.maintenance_page",
    "static", "core.healthz", "core.favicon",
    "core.openapi_document",
    "probes.metrics", "probes.states", "probes.state_history", "commerce_api.regions",
    "commerce_views.home", "status_api.list_incidents", "status_api.get_incident",
    "status_api.list_maintenance", "login.login_form", "login.login", "login.logout",
    "subscribe.subscribe_form", "subscribe.subscribe_post", "subscribe.subscribe_api",
    "subscribe.confirm", "subscribe.manage", "subscribe.unsubscribe_page",
    "subscribe.unsubscribe_form", "subscribe.unsubscribe_one_click",
}
ARGUMENT = re.compile(r"<(?:(\w+):)?(\w+)>")


def concrete(rule: str) -> str:
    return ARGUMENT.sub(lambda m: "1" if m.group(1) == "int" else "x", rule)


def test_every_endpoint_not_declared_public_refuses_anonymous_callers(app: Flask) -> None:
    client = app.test_client()
    with client.session_transaction() as session:
        session["csrf"] = token = uuid.uuid4().hex
    checked = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            path = concrete(rule.rule)
            kwargs = {} if method == "GET" else (
                {"json": {}} if path.startswith("/api/") else {"data": {"csrf_token": token}})
            answer = client.open(path, method=method, **kwargs)  # type: ignore[arg-type]
            refused = answer.status_code == 401 or (
                answer.status_code == 302 and "/login" in answer.headers["Location"])
            assert refused, f"{method} {rule.rule} answered {answer.status_code} to anonymous"
            checked.append((method, rule.rule))
    assert len(checked) > 40


def test_the_openapi_document_marks_exactly_the_public_api_as_public(app: Flask) -> None:
    paths = app.test_client().get("/api/v1/openapi.json").get_json()["paths"]
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule.endswith("openapi.json"):
            continue
        path = ARGUMENT.sub(r"{\2}", rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            documented = paths[path][method.lower()]
            assert ("security" not in documented) == (rule.endpoint in PUBLIC), \
                f"{method} {rule.rule}: its OpenAPI security disagrees with the code"
