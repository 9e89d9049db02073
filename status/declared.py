"""What support engineers send about incidents, checked (pure): a declaration, an update,
a take-over. The API and the web forms both end here, so both refuse the same things.

Text is kept as written (only surrounding white space is trimmed); escaping is the job of
whatever shows it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import BellwetherError
from status.incidents import Impact, IncidentStatus

COMPONENT_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,119}")
AFFECTED_STATES = ("operational", "degraded_performance", "partial_outage", "major_outage")
MAX_TITLE = 200
MAX_TEXT = 10_000
MAX_COMPONENTS = 200


class InvalidIncident(BellwetherError):
    code = "invalid_incident"


@dataclass(frozen=True, slots=True)
class Affected:
    """A (component, region) a declared incident affects, with its state."""

    component: str
    region: str
    state: str


@dataclass(frozen=True, slots=True)
class Declaration:
    """A new incident declared by a support engineer.

    >>> Declaration("Slow checkout", Impact.MINOR, "We are looking into it.", ()).status
    <IncidentStatus.INVESTIGATING: 'investigating'>
    """

    title: str
    impact: Impact
    message: str
    components: tuple[Affected, ...]
    status: IncidentStatus = IncidentStatus.INVESTIGATING


@dataclass(frozen=True, slots=True)
class UpdateInput:
    """A public update; `impact` and `components`, when given, replace the incident's."""

    status: IncidentStatus
    body: str
    impact: Impact | None = None
    components: tuple[Affected, ...] | None = None


@dataclass(frozen=True, slots=True)
class TakeOver:
    """Support takes over an automatic incident: its title and public text from now on."""

    title: str
    message: str


def text(body: Mapping[str, Any], key: str, *, max_len: int, required: bool = True,
         error: type[BellwetherError] = InvalidIncident) -> str:
    """A string field, trimmed; required ones must not be blank."""
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise error(f"'{key}' must be a string")
    value = value.strip()
    if required and not value:
        raise error(f"'{key}' must not be empty")
    if len(value) > max_len:
        raise error(f"'{key}' must be at most {max_len} characters")
    return value


def choice(body: Mapping[str, Any], key: str, allowed: Collection[str],
           default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str) or value not in allowed:
        raise InvalidIncident(f"'{key}' must be one of {', '.join(allowed)}")
    return value


def components(raw: Any, regions: Collection[str]) -> tuple[Affected, ...]:
    """A list of {component, region, state}; each (component, region) at most once."""
    if not isinstance(raw, list) or len(raw) > MAX_COMPONENTS:
        raise InvalidIncident(f"'components' must be a list of at most {MAX_COMPONENTS} items")
    seen: set[tuple[str, str]] = set()
    result = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise InvalidIncident(f"components[{index}] must be an object")
        name = item.get("component")
        if not isinstance(name, str) or not COMPONENT_NAME.fullmatch(name):
            raise InvalidIncident(f"components[{index}].component is not a component name")
        try:
            region = choice(item, "region", sorted(regions))
        except InvalidIncident as exc:
            raise InvalidIncident(f"components[{index}]: {name}: {exc.detail}") from None
        try:
            state = choice(item, "state", AFFECTED_STATES, default="major_outage")
        except InvalidIncident as exc:
            raise InvalidIncident(
                f"components[{index}]: {name} in {region}: {exc.detail}") from None
        if (name, region) in seen:
            raise InvalidIncident(f"components[{index}]: {name} in {region} is listed twice")
        seen.add((name, region))
        result.append(Affected(name, region, state))
    return tuple(result)


def parse_declaration(body: Mapping[str, Any], regions: Collection[str]) -> Declaration:
    """A declaration from a JSON-like body, or InvalidIncident saying what to fix."""
    status = choice(body, "status", [s for s in IncidentStatus if s != "resolved"],
                    default="investigating")
    return Declaration(
        title=text(body, "title", max_len=MAX_TITLE),
        impact=Impact(choice(body, "impact", list(Impact))),
        message=text(body, "message", max_len=MAX_TEXT),
        components=components(body.get("components", []), regions),
        status=IncidentStatus(status))


def parse_update(body: Mapping[str, Any], regions: Collection[str]) -> UpdateInput:
    """An update from a JSON-like body."""
    impact = body.get("impact")
    raw_components = body.get("components")
    return UpdateInput(
        status=IncidentStatus(choice(body, "status", list(IncidentStatus))),
        body=text(body, "body", max_len=MAX_TEXT),
        impact=None if impact is None else Impact(choice(body, "impact", list(Impact))),
        components=None if raw_components is None else components(raw_components, regions))


def parse_take_over(body: Mapping[str, Any]) -> TakeOver:
    return TakeOver(title=text(body, "title", max_len=MAX_TITLE),
                    message=text(body, "message", max_len=MAX_TEXT))


#: The per-component choice in the web form that leaves a component out even when its
#: whole region is chosen ('' there means "as the region").
NOT_AFFECTED = "not_affected"


@dataclass(frozen=True, slots=True)
class IncidentTemplate:
    """Words a support engineer starts a declaration from; every field stays editable.

    >>> template_named("major-outage").impact
    <Impact.CRITICAL: 'critical'>
    """

    key: str
    name: str
    title: str
    impact: Impact
    message: str


TEMPLATES = (
    IncidentTemplate("degraded-performance", "Degraded performance",
                     "Degraded performance", Impact.MINOR,
                     "Some requests are slower than usual. We are investigating and will "
                     "post an update as soon as we know more."),
    IncidentTemplate("partial-outage", "Partial outage", "Partial outage", Impact.MAJOR,
                     "Some requests are failing. We are investigating and will post an "
                     "update as soon as we know more."),
    IncidentTemplate("major-outage", "Major outage", "Major outage", Impact.CRITICAL,
                     "The service is unavailable. We are working on it with the highest "
                     "priority and will post updates as we go."),
    IncidentTemplate("scheduled-fix", "Scheduled fix in progress",
                     "Scheduled fix in progress", Impact.MINOR,
                     "We are applying a fix. Some requests may be slower or fail while it "
                     "rolls out; we will post an update when it is done."),
)


def template_named(key: str | None) -> IncidentTemplate | None:
    """The built-in template with this key, or None."""
    return next((t for t in TEMPLATES if t.key == key), None)


#: Live states a support engineer is shown preselected: what is failing now.
FAILING = ("degraded_performance", "partial_outage", "major_outage")


@dataclass(frozen=True, slots=True)
class UpdateTemplate:
    """Words a support engineer starts an update from (status and text; the impact only
    where the template implies one). Every field stays editable.

    >>> update_template_named("monitoring").status
    <IncidentStatus.MONITORING: 'monitoring'>
    """

    key: str
    name: str
    status: IncidentStatus
    body: str
    impact: Impact | None = None


UPDATE_TEMPLATES = (
    UpdateTemplate("still-investigating", "Still investigating", IncidentStatus.INVESTIGATING,
                   "We are still investigating and will post another update within 30 "
                   "minutes."),
    UpdateTemplate("identified", "Cause identified", IncidentStatus.IDENTIFIED,
                   "We have identified the cause and are working on a fix."),
    UpdateTemplate("monitoring", "Fix applied, monitoring", IncidentStatus.MONITORING,
                   "A fix has been applied and we are watching the results."),
    UpdateTemplate("resolved", "Resolved", IncidentStatus.RESOLVED,
                   "This incident is resolved; every affected service works normally again."),
)


def update_template_named(key: str | None) -> UpdateTemplate | None:
    """The built-in update template with this key, or None."""
    return next((t for t in UPDATE_TEMPLATES if t.key == key), None)


Pair = tuple[str, str]


def picked_components(form: Mapping[str, str], names: Collection[str],
                      regions: Collection[str], tiers: Mapping[str, int] | None = None,
                      ) -> list[dict[str, str]]:
    """The web forms' picker as the API's `components` list: `region-<region>` puts every
    component of the region at one state, `tier<N>-<region>` every component of tier N
    there (over the region's), `state-<component>-<region>` one component (over both;
    NOT_AFFECTED leaves it out). States are not checked here: the parsers refuse bad ones in
    the API's words.

    >>> picked_components({"region-eu": "partial_outage", "tier2-eu": "not_affected",
    ...                    "state-a-eu": "major_outage"}, ["a", "b", "c"], ["eu"], {"c": 2})
    [{'component': 'a', 'region': 'eu', 'state': 'major_outage'}, \
{'component': 'b', 'region': 'eu', 'state': 'partial_outage'}]
    """
    chosen = []
    for region in regions:
        whole = form.get(f"region-{region}", "")
        for name in names:
            tier = form.get(f"tier{(tiers or {}).get(name, 1)}-{region}", "")
            override = form.get(f"state-{name}-{region}", "")
            state = override or tier or whole
            if state and state != NOT_AFFECTED:
                chosen.append({"component": name, "region": region, "state": state})
    return chosen


def preselected(listed: Mapping[Pair, str], live: Mapping[Pair, str]) -> dict[Pair, str]:
    """What a picker starts from: the incident's components at their states, and every
    (component, region) failing live at its live state (the measurement wins there).

    >>> preselected({("a", "eu"): "partial_outage"},
    ...             {("a", "eu"): "major_outage", ("b", "eu"): "operational"})
    {('a', 'eu'): 'major_outage'}
    """
    chosen = {pair: state for pair, state in listed.items() if state in FAILING}
    chosen.update({pair: state for pair, state in live.items() if state in FAILING})
    return chosen


def picker_fields(selected: Mapping[Pair, str], names: Collection[str],
                  regions: Collection[str]) -> dict[str, str]:
    """The picker's fields that show `selected`: a region whose every component is at one
    state is chosen whole; otherwise each selected component is chosen on its own.

    >>> picker_fields({("a", "eu"): "major_outage", ("b", "eu"): "major_outage",
    ...                ("a", "us"): "degraded_performance"}, ["a", "b"], ["eu", "us"])
    {'region-eu': 'major_outage', 'state-a-us': 'degraded_performance'}
    """
    fields: dict[str, str] = {}
    for region in regions:
        states = {selected.get((name, region)) for name in names}
        if len(states) == 1 and None not in states:
            fields[f"region-{region}"] = str(states.pop())
            continue
        for name in names:
            if (name, region) in selected:
                fields[f"state-{name}-{region}"] = selected[(name, region)]
    return fields
