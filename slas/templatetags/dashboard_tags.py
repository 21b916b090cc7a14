"""The SLA dashboard's breakdown rows, rendered in Python.

A breakdown table has a row per department, team, buyer, category and priority, eight cells each with
their links: through the template engine the five tables took about 70 ms of a 90-day dashboard (more
than every "now" query together). This tag writes the same HTML the row template wrote, byte for byte
(tests/slas/test_dashboard_tags.py renders both), localising numbers exactly as `{{ value }}` does."""

import html

from django import template
from django.conf import settings
from django.template.defaultfilters import floatformat
from django.utils.formats import get_format, localize
from django.utils.safestring import mark_safe

register = template.Library()

DASH = "—"


def _localizer():
    """localize() for this row's numbers. Without thousand separators an int localises to str(int) and a
    float (never in exponent form here: shares and hours rounded to one decimal) to str(float) with the
    language's decimal separator, which is what Django's number_format does; asking Django for the format
    once per row instead of once per number is most of the tag's time."""
    if settings.USE_THOUSAND_SEPARATOR:
        return localize
    separator = get_format("DECIMAL_SEPARATOR")

    def number(value):
        if type(value) is int:
            return str(value)
        if type(value) is float and "e" not in str(value):
            return str(value).replace(".", separator)
        return localize(value)

    return number


@register.simple_tag
def breakdown_row(row, target_percent):
    """One dashboard.BreakdownRow as its table row."""
    c, links = row.cycles, row.links
    esc = html.escape  # what Django's escape() does, without its lazy-string wrapper (names and URLs are str)
    localize = _localizer()

    def _number(value, none="—"):
        """`{{ value|default_if_none:none }}`."""
        return none if value is None else localize(value)

    fr_met = _number(c.fr_met_percent) + (" %" if c.fr_met_percent is not None else "")
    res_met = _number(c.res_met_percent) + (" %" if c.res_met_percent is not None else "")
    warn = c.res_met_percent is not None and c.res_met_percent < target_percent
    width = floatformat(0 if c.res_met_percent is None else c.res_met_percent, 0)
    times = [
        (c.res_median_hours, links and c.res_count),
        (c.res_p90_hours, links and c.res_count),
    ]
    time_cells = "".join(
        f'\n          <td class="text-end" data-value="{_number(hours, "-1")}">'
        + (f'<a href="{esc(links["completed"])}">{_number(hours, "None")}</a>' if shown else DASH)
        + "</td>"
        for hours, shown in times
    )
    breached_class = ' class="text-danger fw-semibold"' if row.breached else ' class=""'
    breached = localize(row.breached)
    if links:
        breached = f'<a{breached_class} href="{esc(links["breached"])}" data-breached="{esc(row.name)}">{breached}</a>'
    return mark_safe(
        "\n        <tr>"
        f'\n          <th scope="row" class="fw-normal" data-value="{esc(row.name)}">{esc(row.name)}</th>'
        f'\n          <td class="text-end" data-value="{localize(row.volume)}">'
        + (f'<a href="{esc(links["volume"])}">{localize(row.volume)}</a>' if links else localize(row.volume))
        + "</td>"
        f'\n          <td class="text-end" data-value="{_number(c.fr_met_percent, "-1")}">'
        + (f'<a href="{esc(links["responded"])}">{fr_met}</a>' if links else fr_met)
        + f' <span class="small text-body-secondary">of {localize(c.fr_count)}</span></td>'
        f'\n          <td data-value="{_number(c.res_met_percent, "-1")}" style="min-width: 10rem">'
        '\n            <div class="d-flex align-items-center gap-2">'
        '\n              <div class="progress flex-grow-1" style="height: .5rem" role="presentation">'
        f'<div class="progress-bar {"bg-warning" if warn else "bg-success"}" style="width: {width}%"></div></div>'
        '\n              <span class="text-nowrap">'
        + (f'<a href="{esc(links["completed"])}">{res_met}</a>' if links else res_met)
        + f' <span class="small text-body-secondary">of {localize(c.res_count)}</span></span>'
        "\n            </div>"
        "\n          </td>"
        + time_cells
        + f'\n          <td class="text-end" data-value="{localize(row.open)}">'
        + (f'<a href="{esc(links["open"])}">{localize(row.open)}</a>' if links else localize(row.open))
        + "</td>"
        f'\n          <td class="text-end" data-value="{localize(row.breached)}">{breached}</td>'
        "\n        </tr>\n      "
    )
