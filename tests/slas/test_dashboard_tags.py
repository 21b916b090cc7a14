# ruff: noqa: E501  (the row template below is kept exactly as it was)
"""The breakdown rows rendered in Python (slas/templatetags/dashboard_tags.py) are the HTML the row
template rendered, byte for byte: every cell, with and without links, missing values, names that need
escaping, numbers localised in English and German."""

import pytest
from django.template import engines
from django.utils import translation

from slas.dashboard import Attainment, BreakdownRow

# The row template the tag replaced, as it was.
ROW_TEMPLATE = """      {% for row in rows %}{% with c=row.cycles l=row.links %}
        <tr>
          <th scope="row" class="fw-normal" data-value="{{ row.name }}">{{ row.name }}</th>
          <td class="text-end" data-value="{{ row.volume }}">{% if l %}<a href="{{ l.volume }}">{{ row.volume }}</a>{% else %}{{ row.volume }}{% endif %}</td>
          <td class="text-end" data-value="{{ c.fr_met_percent|default_if_none:'-1' }}">{% if l %}<a href="{{ l.responded }}">{% endif %}{{ c.fr_met_percent|default_if_none:"—" }}{% if c.fr_met_percent is not None %} %{% endif %}{% if l %}</a>{% endif %} <span class="small text-body-secondary">of {{ c.fr_count }}</span></td>
          <td data-value="{{ c.res_met_percent|default_if_none:'-1' }}" style="min-width: 10rem">
            <div class="d-flex align-items-center gap-2">
              <div class="progress flex-grow-1" style="height: .5rem" role="presentation"><div class="progress-bar {% if c.res_met_percent is not None and c.res_met_percent < dashboard.target_percent %}bg-warning{% else %}bg-success{% endif %}" style="width: {{ c.res_met_percent|default_if_none:0|floatformat:0 }}%"></div></div>
              <span class="text-nowrap">{% if l %}<a href="{{ l.completed }}">{% endif %}{{ c.res_met_percent|default_if_none:"—" }}{% if c.res_met_percent is not None %} %{% endif %}{% if l %}</a>{% endif %} <span class="small text-body-secondary">of {{ c.res_count }}</span></span>
            </div>
          </td>
          <td class="text-end" data-value="{{ c.res_median_hours|default_if_none:'-1' }}">{% if l and c.res_count %}<a href="{{ l.completed }}">{{ c.res_median_hours }}</a>{% else %}—{% endif %}</td>
          <td class="text-end" data-value="{{ c.res_p90_hours|default_if_none:'-1' }}">{% if l and c.res_count %}<a href="{{ l.completed }}">{{ c.res_p90_hours }}</a>{% else %}—{% endif %}</td>
          <td class="text-end" data-value="{{ row.open }}">{% if l %}<a href="{{ l.open }}">{{ row.open }}</a>{% else %}{{ row.open }}{% endif %}</td>
          <td class="text-end" data-value="{{ row.breached }}">{% if l %}<a class="{% if row.breached %}text-danger fw-semibold{% endif %}" href="{{ l.breached }}" data-breached="{{ row.name }}">{{ row.breached }}</a>{% else %}{{ row.breached }}{% endif %}</td>
        </tr>
      {% endwith %}{% endfor %}"""
TAG_TEMPLATE = """{% load dashboard_tags %}      {% for row in rows %}{% breakdown_row row dashboard.target_percent %}{% endfor %}"""

LINKS = {
    name: f"/requests/queue/all/?period=90&{name}=1&department=2"
    for name in ("volume", "responded", "completed", "open", "breached")
}
ROWS = [
    BreakdownRow(
        3,
        "Sales & <Marketing>",
        volume=1234,
        open=17,
        breached=4,
        cycles=Attainment(40, 31, 3600.0, 25, 19, 45000.0, 90000.0),
        links=LINKS,
    ),
    BreakdownRow(
        7, "Ann O'Neil", volume=5, open=0, breached=0, cycles=Attainment(2, 2, None, 1, 0, 7200.0, 7200.0), links=LINKS
    ),
    BreakdownRow("urgent", "Urgent", volume=0, open=3, breached=1, cycles=Attainment(), links=LINKS),
    BreakdownRow(None, "No team", volume=12, open=2, breached=2, cycles=Attainment(3, 1, None, 2, 2, 1800.0, 3240.0)),
    BreakdownRow(None, "—", volume=0, open=0, breached=0),
]


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("target", [90, 50])
@pytest.mark.parametrize("thousands", [False, True])
def test_the_tag_writes_what_the_row_template_wrote(language, target, thousands, settings):
    settings.USE_THOUSAND_SEPARATOR = thousands
    engine = engines["django"]
    context = {"rows": ROWS, "dashboard": {"target_percent": target}}
    with translation.override(language):
        old = engine.from_string(ROW_TEMPLATE).render(context)
        new = engine.from_string(TAG_TEMPLATE).render(context)
    assert new == old
    assert "Sales &amp; &lt;Marketing&gt;" in new and "&amp;department=2" in new
    assert ("1,234" if language == "en" else "1.234") in new if thousands else "1234" in new
