"""Status and uptime badges: shields-style SVG (a grey label, a coloured message) for a
region, a component in a region, and a component's uptime over the page's last 30 or 90
days (pure: no Flask, no database).

A badge says what the public page says: the state is the page's (`StatusPage`), and the
uptime is `status.page.uptime_of` over the same day bars the page's "% uptime, 90 days"
is computed from.

>>> svg = render_svg(state_badge("orders (europe-west1.gcp)", "partial_outage"))
>>> 'fill="#fe7d37"' in svg and ">partial outage</text>" in svg
True
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from status.page import STATE_WORDS, ComponentView, RegionView, uptime_of

#: The days an uptime badge may cover: the public page's 90 days, and the last 30 of them.
UPTIME_DAYS = (30, 90)
LABEL_COLOUR = "#555555"
#: shields.io's named colours, by the state a page shows.
STATE_COLOURS = {
    "operational": "#44cc11",  # brightgreen
    "degraded_performance": "#dfb317",  # yellow
    "partial_outage": "#fe7d37",  # orange
    "major_outage": "#e05d44",  # red
    "under_maintenance": "#007ec6",  # blue
    "monitoring": "#007ec6",  # blue, as the page's dot for a recovery being watched
    "no_data": "#9f9f9f",  # lightgrey: "data delayed", never green
}
#: An uptime's colour: the first threshold (percent) it reaches, shields' scale.
UPTIME_COLOURS = ((99.9, "#44cc11"), (99.0, "#97ca00"), (97.0, "#a4a61d"),
                  (95.0, "#dfb317"), (90.0, "#fe7d37"), (0.0, "#e05d44"))
NO_UPTIME_COLOUR = STATE_COLOURS["no_data"]

#: Verdana's advance widths (units of 1/2048 em) for printable ASCII, space to tilde: what
#: shields measures its text with. Anything else counts as an "m"-wide guess below.
_VERDANA = (
    720, 808, 942, 1675, 1303, 2222, 1493, 552, 930, 930, 1303, 1675, 745, 861, 745, 1189,
    1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 1303, 874, 874, 1675, 1675, 1675,
    1113, 2045, 1401, 1405, 1430, 1577, 1294, 1178, 1587, 1540, 862, 944, 1423, 1151, 1726,
    1532, 1612, 1235, 1612, 1425, 1403, 1233, 1499, 1401, 2025, 1405, 1234, 1405, 930, 1189,
    930, 1675, 1303, 1303, 1229, 1272, 1067, 1272, 1220, 719, 1272, 1296, 556, 702, 1202,
    556, 1989, 1296, 1233, 1272, 1272, 874, 1067, 807, 1296, 1202, 1675, 1202, 1202, 1054,
    1303, 930, 1303, 1675,
)
_WIDE = 1989
FONT_SIZE = 11
PADDING = 5  # each side of a text
HEIGHT = 20


@dataclass(frozen=True, slots=True)
class Badge:
    """What a badge says and in which colour.

    >>> Badge("europe-west1.gcp", "operational", "#44cc11").label
    'europe-west1.gcp'
    """

    label: str
    message: str
    colour: str


def text_width(text: str) -> float:
    """The width in pixels `text` takes in 11 px Verdana (approximate outside ASCII)."""
    units = sum(_VERDANA[ord(c) - 32] if 32 <= ord(c) <= 126 else _WIDE for c in text)
    return units * FONT_SIZE / 2048


def state_badge(label: str, state: str) -> Badge:
    """A status badge: the state in the page's words, lower case, in the state's colour."""
    words = STATE_WORDS.get(state, state.replace("_", " ")).lower()
    return Badge(label, words, STATE_COLOURS.get(state, NO_UPTIME_COLOUR))


def region_badge(region: RegionView) -> Badge:
    """A region's banner as a badge ("monitoring" while a recovery is watched)."""
    return state_badge(region.name, region.shown_state)


def component_badge(component: ComponentView) -> Badge:
    """A component in a region, labelled as the page names it: "orders (europe-west1.gcp)"."""
    return state_badge(component.name, component.state)


def uptime_over(component: ComponentView, days: int) -> float | None:
    """The uptime of the component's last `days` day bars, as the page computes its own
    (`uptime_of`); None while none of those days has a checked minute."""
    return uptime_of(component.bars[-days:])


def uptime_badge(component: ComponentView, days: int) -> Badge:
    """"<component> (<region>) <days>-day uptime" and the percentage, as precise as the page
    shows it (three decimals)."""
    label = f"{component.name} {days}-day uptime"
    uptime = uptime_over(component, days)
    if uptime is None:
        return Badge(label, "no data yet", NO_UPTIME_COLOUR)
    colour = next(c for threshold, c in UPTIME_COLOURS if uptime >= threshold)
    return Badge(label, f"{uptime:.3f}%", colour)


def _text_colours(background: str) -> tuple[str, str]:
    """Text and shadow colours that read on `background` (shields' brightness rule)."""
    red, green, blue = (int(background[i:i + 2], 16) for i in (1, 3, 5))
    brightness = (0.299 * red + 0.587 * green + 0.114 * blue) / 255
    return ("#ffffff", "#010101") if brightness <= 0.69 else ("#333333", "#cccccc")


def _text(text: str, centre: float, width: float, colour: str, shadow: str) -> str:
    """One text with its shadow; coordinates in tenths of a pixel (scale(.1)), as shields
    draws them, with `textLength` holding the text to the width we computed."""
    x, length, words = round(centre * 10), round(width * 10), escape(text)
    return (f'<text aria-hidden="true" x="{x}" y="150" fill="{shadow}" fill-opacity=".3" '
            f'transform="scale(.1)" textLength="{length}">{words}</text>'
            f'<text x="{x}" y="140" transform="scale(.1)" fill="{colour}" '
            f'textLength="{length}">{words}</text>')


def render_svg(badge: Badge) -> str:
    """The badge as a standalone SVG document (shields' "flat" style), every text escaped."""
    label_text, message_text = text_width(badge.label), text_width(badge.message)
    label_width = round(label_text + 2 * PADDING)
    message_width = round(message_text + 2 * PADDING)
    width = label_width + message_width
    title = escape(f"{badge.label}: {badge.message}")
    message_colour, message_shadow = _text_colours(badge.colour)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT}" '
        f'role="img" aria-label="{title}"><title>{title}</title>'
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" '
        'stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{width}" height="{HEIGHT}" rx="3" fill="#fff"/>'
        f'</clipPath><g clip-path="url(#r)">'
        f'<rect width="{label_width}" height="{HEIGHT}" fill="{LABEL_COLOUR}"/>'
        f'<rect x="{label_width}" width="{message_width}" height="{HEIGHT}" '
        f'fill="{badge.colour}"/>'
        f'<rect width="{width}" height="{HEIGHT}" fill="url(#s)"/></g>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,'
        'sans-serif" text-rendering="geometricPrecision" font-size="110">'
        + _text(badge.label, label_width / 2, label_text, "#ffffff", "#010101")
        + _text(badge.message, label_width + message_width / 2, message_text,
                message_colour, message_shadow)
        + "</g></svg>\n")
