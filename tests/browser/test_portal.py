"""The portal in a real browser: a requester files, follows and replies; the head approves.

Transactional tests: live_server runs in another thread, so rows must be committed, and the
database is flushed after each test. Everything a test needs is created inside it.
"""

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from requests_app.models import Attachment, Comment, ProcurementRequest, Status
from requests_app.routing import routing_defaults_ensure
from slas.demo import sla_defaults_ensure
from stakeholders.roles import Role
from tests.factories import PASSWORD, CategoryFactory, DepartmentFactory, euro, file_request, person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "portal"
PDF = (
    b"%PDF-1.4\n"
    b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)
BOOTSTRAP_PRIMARY = "rgb(13, 110, 253)"


@pytest.fixture
def sales():
    """Sales with a requester and its head, the Goods category (approval above 5,000 EUR) and the euro."""
    department = DepartmentFactory(name="Sales", code="SALES")
    alice = person(Role.REQUESTER, department, username="alice", first_name="Alice", last_name="Andersen")
    hannah = person(Role.DEPARTMENT_HEAD, department, username="hannah", first_name="Hannah", last_name="Hoffmann")
    CategoryFactory(name="Goods", approval_threshold=Decimal("5000"))
    euro()
    sla_defaults_ensure()  # the office calendar and standard SLA policy, lost to the previous test's flush
    routing_defaults_ensure()  # and routing's default rule (the team queue)
    return {"alice": alice, "hannah": hannah}


@pytest.fixture
def page(page: Page):
    page.set_default_timeout(10_000)
    expect.set_options(timeout=10_000)
    return page


def snap(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(page, live_server, user):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # the user menu, with their name, is there once logged in
    expect(page.get_by_role("button", name=user.get_full_name())).to_be_visible()


def log_out(page, user):
    page.get_by_role("button", name=user.get_full_name()).click()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_a_request_goes_from_filing_to_approval(page, live_server, sales):
    stylesheets = {}
    page.on("response", lambda response: stylesheets.setdefault(response.url.rsplit("/", 1)[-1], response.status))

    # given alice logs in through the real login form
    log_in(page, live_server, sales["alice"])
    expect(page).to_have_url(re.compile(r"/requests/mine/$"))
    # and the vendored Bootstrap is served and applied
    assert stylesheets.get("bootstrap.min.css") == 200
    assert page.locator("nav.navbar").evaluate("e => getComputedStyle(e).backgroundColor") == BOOTSTRAP_PRIMARY
    snap(page, "01-my-requests-empty")

    # when she files a request above the approval threshold, with a PDF
    page.get_by_role("link", name="New request", exact=True).click()
    page.locator("#id_title").fill("Trade fair booth")
    page.locator("#id_description").fill("A 20 m² booth for the spring fair, with furniture.")
    page.locator("#id_category").select_option(label="Goods")
    page.locator("#id_priority").select_option("high")
    page.locator("#id_estimated_value").fill("6500")
    page.locator("#id_needed_by").fill((timezone.localdate() + timedelta(days=30)).isoformat())
    page.locator("#id_attachments").set_input_files(
        files=[{"name": "booth-quote.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    snap(page, "02-new-request-form")
    page.locator("#submit-request").click()

    # then the confirmation page shows the reference
    expect(page).to_have_url(re.compile(r"/requests/PR-\d{4}-\d{6}/submitted/$"))
    procurement_request = ProcurementRequest.objects.get()
    expect(page.locator("#reference")).to_have_text(procurement_request.reference)
    expect(page.get_by_text("Pending approval").first).to_be_visible()
    assert procurement_request.status == Status.PENDING_APPROVAL
    assert Attachment.objects.get().original_name == "booth-quote.pdf"
    snap(page, "03-confirmation")

    # and the request is in "My requests"
    page.get_by_role("link", name="My requests").click()
    row = page.get_by_role("row").filter(has_text=procurement_request.reference)
    expect(row).to_contain_text("Trade fair booth")
    expect(row).to_contain_text("Pending approval")
    snap(page, "04-my-requests")

    # when she opens it and replies (htmx: the conversation is swapped in place, no reload)
    row.get_by_role("link", name=procurement_request.reference).click()
    expect(page.locator("#request-title")).to_have_text("Trade fair booth")
    expect(page.locator("#attachments")).to_contain_text("booth-quote.pdf")
    page.evaluate("window.__sameDocument = true")
    page.get_by_label("Message").fill("Please deliver to hall 4, stand B12.")
    with page.expect_response(re.compile(r"/comments/$")) as reply:
        page.get_by_role("button", name="Send").click()
    # then the reply appears, in the same document, from an htmx request
    assert reply.value.status == 200
    assert reply.value.request.headers.get("hx-request") == "true"
    expect(page.locator("#timeline")).to_contain_text("Please deliver to hall 4, stand B12.")
    expect(page.get_by_label("Message")).to_have_value("")
    assert page.evaluate("window.__sameDocument") is True
    assert Comment.objects.get().body == "Please deliver to hall 4, stand B12."
    snap(page, "05-reply-swapped-in")

    # when she logs out and the head logs in and approves from the Approvals list
    log_out(page, sales["alice"])
    log_in(page, live_server, sales["hannah"])
    page.get_by_role("link", name="Approvals").click()
    expect(page.get_by_role("heading", name="Waiting for my approval")).to_be_visible()
    page.get_by_role("link", name=procurement_request.reference).click()
    snap(page, "06-head-sees-request")
    page.get_by_role("button", name="Approve", exact=True).click()

    # then the request page says Approved
    expect(page.locator("#request-status")).to_have_text("Approved")
    expect(page.get_by_role("alert")).to_contain_text(f"{procurement_request.reference} is approved")
    procurement_request.refresh_from_db()
    assert procurement_request.status == Status.APPROVED
    snap(page, "07-approved")


def test_a_validation_error_is_shown_beside_its_field(page, live_server, sales):
    # given alice on the new-request form
    log_in(page, live_server, sales["alice"])
    page.get_by_role("link", name="New request", exact=True).click()
    # when she enters a negative value and sends it
    page.locator("#id_title").fill("Printer paper")
    page.locator("#id_description").fill("Ten boxes.")
    page.locator("#id_category").select_option(label="Goods")
    page.locator("#id_estimated_value").fill("-5")
    page.locator("#submit-request").click()
    # then the form comes back with the message under the value field, marked invalid, and her input kept
    value_field = page.locator("#div_id_estimated_value")
    expect(value_field.locator(".invalid-feedback")).to_have_text("Ensure this value is greater than or equal to 0.")
    expect(value_field.locator(".invalid-feedback")).to_be_visible()
    expect(page.locator("#id_estimated_value")).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.locator("#id_title")).to_have_value("Printer paper")
    expect(page.locator("#form-errors")).to_be_visible()
    snap(page, "08-validation-error")
    # and nothing was filed
    assert not ProcurementRequest.objects.exists()


def test_an_empty_htmx_reply_shows_its_error_in_place(page, live_server, sales):
    # given alice on her request's page
    procurement_request = file_request(sales["alice"])
    log_in(page, live_server, sales["alice"])
    page.goto(f"{live_server.url}/requests/{procurement_request.reference}/")
    # when she sends an empty reply
    with page.expect_response(re.compile(r"/comments/$")) as reply:
        page.get_by_role("button", name="Send").click()
    # then the server refuses it and the conversation shows why, under the message field
    assert reply.value.status == 400
    expect(page.locator("#id_body_error")).to_have_text("This field is required.")
    expect(page.locator("#id_body_error")).to_be_visible()
    snap(page, "09-empty-reply")
    # and she can still send a proper one
    page.get_by_label("Message").fill("Sorry, here it is.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#timeline")).to_contain_text("Sorry, here it is.")
    assert Comment.objects.get().body == "Sorry, here it is."
