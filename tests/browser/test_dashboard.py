"""The SLA dashboard in a real browser: the manager opens it, the charts are drawn, and a department's
breached count opens the queue filtered to exactly those requests.

Transactional test (live_server runs in another thread): everything is created inside the test.
"""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from requests_app.models import ProcurementRequest
from slas.demo import sla_defaults_ensure
from stakeholders.roles import Role
from tests.browser.test_portal import log_in, snap
from tests.factories import CategoryFactory, DepartmentFactory, euro, file_request, person
from tests.slas.factories import BusinessCalendarFactory
from tests.slas.test_dashboard import completed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _drawn(page, canvas_id):
    """Whether the canvas holds any non-transparent pixel (Chart.js drew on it)."""
    return page.evaluate(
        """(id) => {
            const canvas = document.getElementById(id);
            if (!canvas || !canvas.width) return false;
            const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] !== 0) return true; }
            return false;
        }""",
        canvas_id,
    )


def test_the_manager_sees_drawn_charts_and_drills_into_a_departments_breaches(page, live_server):
    sla_defaults_ensure()  # lost to the previous transactional test's flush
    sales = DepartmentFactory(name="Sales", code="SALES")
    finance = DepartmentFactory(name="Finance", code="FIN")
    procurement = DepartmentFactory(name="Procurement", code="PROC", is_procurement=True)
    CategoryFactory(name="Goods", approval_threshold=Decimal("5000"))
    euro()
    alice = person(Role.REQUESTER, sales, username="alice")
    oscar = person(Role.REQUESTER, finance, username="oscar")
    maria = person(Role.PROCUREMENT_MANAGER, procurement, username="maria", first_name="Maria")
    breached = file_request(alice, title="Overdue monitors")
    file_request(alice, title="Printer paper")
    other = file_request(oscar, title="Finance binders")
    # Breached now (as the minute sweep would have marked them): one in Sales, one in Finance.
    ProcurementRequest.objects.filter(pk__in=[breached.pk, other.pk]).update(sla_breached=True, sla_threshold=100)
    # One request of Sales completed this week, for the fairness table's evidence.
    completed(alice, BusinessCalendarFactory(), hours_taken=3, met=True, title="Delivered chairs")

    log_in(page, live_server, maria)
    page.goto(f"{live_server.url}/slas/dashboard/")
    expect(page.locator("h1")).to_have_text("SLA dashboard")
    expect(page.locator("[data-tile='breached-now']")).to_have_text("2")
    for canvas in ("chart-flow", "chart-met", "chart-ages"):
        expect(page.locator(f"#{canvas}")).to_be_visible()
        assert _drawn(page, canvas), canvas
    snap(page, "dashboard-01-overview")

    # The fairness evidence comes when its row is opened (htmx), with the cell's link to the queue.
    evidence = page.locator("#fairness [data-department='Sales'] details")
    expect(evidence.locator("[data-evidence-table]")).to_have_count(0)
    evidence.locator("summary").click()
    expect(evidence.locator("[data-evidence-table] tbody tr")).to_have_count(1)
    expect(evidence.locator("[data-evidence-table] a")).to_have_attribute("href", re.compile(r"completed_from="))

    # A click on Sales's breached count opens the breached queue filtered to Sales.
    page.locator("#breakdown-department [data-breached='Sales']").click()
    expect(page).to_have_url(re.compile(rf"/requests/queue/breached/\?department={sales.pk}$"))
    rows = page.locator("tr.queue-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_id(f"row-{breached.reference}")
    snap(page, "dashboard-02-drill-down")
