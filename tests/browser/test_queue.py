"""The buyer queue in a real browser: claim with one click, work the request, come back to the queue;
keyboard shortcuts and a bulk change, all without a page reload.

Transactional tests (live_server runs in another thread): everything is created inside the test.
"""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from requests_app.models import ProcurementRequest, Status
from slas.demo import sla_defaults_ensure
from stakeholders.roles import Role
from tests.browser.test_portal import log_in, snap
from tests.factories import CategoryFactory, DepartmentFactory, euro, file_request, person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def desk():
    """Sales with a requester, Procurement with a buyer, the Goods category, and the standard SLAs."""
    sla_defaults_ensure()  # lost to the previous transactional test's flush
    sales = DepartmentFactory(name="Sales", code="SALES")
    procurement = DepartmentFactory(name="Procurement", code="PROC", is_procurement=True)
    CategoryFactory(name="Goods", approval_threshold=Decimal("5000"))
    euro()
    return {
        "alice": person(Role.REQUESTER, sales, username="alice", first_name="Alice", last_name="Andersen"),
        "bob": person(Role.BUYER, procurement, username="bob", first_name="Bob", last_name="Brandt"),
    }


def row_of(page, procurement_request):
    return page.locator(f"#row-{procurement_request.reference}")


def test_a_buyer_claims_the_most_urgent_request_works_it_and_sees_it_paused_in_the_queue(page, live_server, desk):
    # given three unassigned requests; the urgent one is due first although it was filed second
    alice, bob = desk["alice"], desk["bob"]
    file_request(alice, title="Printer paper", priority="normal")
    urgent = file_request(alice, title="Broken laptop screen", priority="urgent")
    file_request(alice, title="Desk plants", priority="low")

    # when bob logs in, he starts on his own work, which is empty
    log_in(page, live_server, bob)
    expect(page).to_have_url(re.compile(r"/requests/queue/mine/$"))
    expect(page.locator("#queue-empty")).to_contain_text("Nothing assigned to you")
    # and the unassigned view has the urgent request at the top
    page.locator("#queue-views").get_by_role("link", name=re.compile("Unassigned")).click()
    first = page.locator("tr.queue-row").first
    expect(first).to_have_id(f"row-{urgent.reference}")
    expect(first.locator(".sla-badge")).to_have_text(re.compile(r"left$"))
    snap(page, "queue-01-unassigned")

    # when he claims it with one click, the row is updated in place (htmx, no reload)
    page.evaluate("window.__sameDocument = true")
    with page.expect_response(re.compile(r"/claim/$")) as claimed:
        first.get_by_role("button", name="Claim").click()
    assert claimed.value.status == 200
    assert claimed.value.request.headers.get("hx-request") == "true"
    row = row_of(page, urgent)
    expect(row).to_contain_text("Bob Brandt")
    expect(row).to_contain_text("Assigned")
    expect(row.get_by_role("button", name="Claim")).to_have_count(0)
    expect(page.locator("#queue-messages")).to_contain_text(f"{urgent.reference} is yours now.")
    # and the sidebar's counts follow
    expect(page.locator('#queue-views [data-view="mine"] .view-count')).to_have_text("1")
    expect(page.locator('#queue-views [data-view="unassigned"] .view-count')).to_have_text("2")
    assert page.evaluate("window.__sameDocument") is True
    snap(page, "queue-02-claimed")

    # when he opens it, replies, and asks the requester a question
    row.get_by_role("link", name=urgent.reference, exact=True).click()
    expect(page.locator("#request-title")).to_have_text("Broken laptop screen")
    page.get_by_label("Message").fill("Looking at replacement screens now.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#timeline")).to_contain_text("Looking at replacement screens now.")
    page.get_by_role("button", name="Ask the requester…").click()
    page.get_by_label("Question for the requester").fill("Which laptop model is it?")
    page.locator("#action-wait_for_requester").get_by_role("button", name="Ask the requester").click()
    expect(page.locator("#request-status")).to_have_text("Waiting for requester")

    # then back in the queue, his request's SLA badge says the clock is paused
    page.get_by_role("link", name="Queue").click()
    expect(page).to_have_url(re.compile(r"/requests/queue/mine/$"))
    expect(row_of(page, urgent).locator(".sla-badge")).to_have_text("Paused")
    expect(row_of(page, urgent)).to_contain_text("Waiting for requester")
    snap(page, "queue-03-paused")
    urgent.refresh_from_db()
    assert (urgent.status, urgent.assignee) == (Status.WAITING_FOR_REQUESTER, bob)


def test_the_keyboard_moves_selects_and_claims_and_a_bulk_change_updates_the_rows(page, live_server, desk):
    # given two unassigned requests
    alice, bob = desk["alice"], desk["bob"]
    first = file_request(alice, title="Toner", priority="high")
    second = file_request(alice, title="Staples", priority="low")
    log_in(page, live_server, bob)
    page.goto(f"{live_server.url}/requests/queue/unassigned/")
    expect(page.locator("#shortcuts-hint")).to_contain_text("j/k move")

    # when he presses j, the first row is highlighted; j again, the second; k back to the first
    page.keyboard.press("j")
    expect(row_of(page, first)).to_have_class(re.compile(r"\btable-active\b"))
    page.keyboard.press("j")
    expect(row_of(page, second)).to_have_class(re.compile(r"\btable-active\b"))
    page.keyboard.press("k")
    expect(row_of(page, first)).to_have_class(re.compile(r"\btable-active\b"))
    # and c claims the highlighted row
    with page.expect_response(re.compile(r"/claim/$")):
        page.keyboard.press("c")
    expect(row_of(page, first)).to_contain_text("Bob Brandt")
    expect(row_of(page, first)).to_have_class(re.compile(r"\btable-active\b"))  # the swapped row keeps it
    # and j, c claim the second one
    page.keyboard.press("j")
    with page.expect_response(re.compile(r"/claim/$")):
        page.keyboard.press("c")
    expect(row_of(page, second)).to_contain_text("Bob Brandt")

    # when he presses / the search has the focus, and typing there is typing, not shortcuts
    page.keyboard.press("/")
    expect(page.locator("#queue-search")).to_be_focused()
    page.keyboard.type("jx")
    expect(page.locator("#queue-search")).to_have_value("jx")
    expect(page.locator(".row-check:checked")).to_have_count(0)
    page.keyboard.press("Escape")

    # when he selects both rows with x and starts work on them in bulk
    page.keyboard.press("x")
    page.keyboard.press("k")
    page.keyboard.press("x")
    expect(page.locator(".row-check:checked")).to_have_count(2)
    expect(page.locator("#selected-count")).to_have_text("With 2 selected:")
    page.locator("#bulk-form select[name=action]").select_option("start")
    with page.expect_response(re.compile(r"/queue/bulk/$")) as bulk:
        page.locator("#bulk-form").get_by_role("button", name="Apply").click()
    assert bulk.value.status == 200
    # then both rows show the new status, unselected, and the message counts them
    expect(row_of(page, first)).to_contain_text("In progress")
    expect(row_of(page, second)).to_contain_text("In progress")
    expect(page.locator(".row-check:checked")).to_have_count(0)
    expect(page.locator("#queue-messages")).to_contain_text("2 started")
    snap(page, "queue-04-bulk")
    assert set(ProcurementRequest.objects.values_list("status", flat=True)) == {Status.IN_PROGRESS}

    # when he raises the second one's priority from its actions dialog, first forgetting the reason
    row_of(page, second).get_by_role("link", name=f"Actions for {second.reference}").click()
    dialog = page.locator("#queue-action-modal")
    expect(dialog.get_by_text(second.reference)).to_be_visible()
    dialog.get_by_role("button", name="Change priority…").click()
    expect(dialog.locator("#action-reprioritise")).to_have_class(re.compile(r"\bshow\b"))  # opened
    dialog.get_by_label("Priority").select_option("urgent")
    with page.expect_response(re.compile(r"/reprioritise/$")) as refused:
        dialog.get_by_role("button", name="Change priority", exact=True).click()
    # then the dialog shows what is missing, in place
    assert refused.value.status == 400
    expect(dialog.locator("#id_reprioritise_note")).to_have_class(re.compile(r"\bis-invalid\b"))
    snap(page, "queue-05-reason-missing")
    # and with the reason, the dialog closes and the row shows the new priority
    dialog.get_by_label("Priority").select_option("urgent")
    dialog.get_by_label("Reason").fill("The warehouse is out of staples.")
    with page.expect_response(re.compile(r"/reprioritise/$")) as done:
        dialog.get_by_role("button", name="Change priority", exact=True).click()
    assert done.value.status == 200
    expect(dialog).to_be_hidden()
    expect(row_of(page, second)).to_contain_text("Urgent")
    second.refresh_from_db()
    assert second.priority == "urgent"
