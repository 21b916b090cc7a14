"""Stakeholder relations in a real browser: the manager minutes a meeting, adds an action item and
publishes the outcome; a member of the department reads it on the department page and in the bell."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from slas.demo import sla_defaults_ensure
from stakeholders import relations
from stakeholders.models import Channel, Notification, NotificationKind
from stakeholders.roles import Role
from tests.browser.test_portal import log_in, page, snap  # noqa: F401 (page: the fixture with timeouts)
from tests.factories import DepartmentFactory, person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_publishes_meeting_outcomes_and_the_department_reads_them(page, live_server):  # noqa: F811
    # given Sales with a member and its head, a procurement manager, and a meeting held yesterday
    sla_defaults_ensure()
    sales = DepartmentFactory(name="Sales", code="SALES")
    alice = person(Role.REQUESTER, sales, username="alice", first_name="Alice", last_name="Andersen")
    hannah = person(Role.DEPARTMENT_HEAD, sales, username="hannah", first_name="Hannah", last_name="Hoffmann")
    procurement = DepartmentFactory(name="Procurement", code="PROC", is_procurement=True)
    maria = person(Role.PROCUREMENT_MANAGER, procurement, username="maria", first_name="Maria", last_name="Martens")
    meeting = relations.meeting_plan(
        department=sales, actor=maria, title="Quarterly review", starts_at=timezone.now() - timedelta(days=1)
    )

    # when the manager records the minutes, adds an action item for the head and publishes the outcome
    log_in(page, live_server, maria)
    page.goto(f"{live_server.url}/stakeholders/")
    page.get_by_role("link", name="Sales").click()
    page.get_by_role("link", name="Quarterly review").first.click()
    page.fill("#id_minutes-minutes", "Response times are fine.")
    page.fill("#id_minutes-decisions", "Laptops from the catalogue.")
    page.locator("form[action$='/minutes/'] button[type=submit]").click()
    expect(page.get_by_text("The meeting is saved.")).to_be_visible()
    page.fill("#id_item-title", "Send the hiring forecast")
    page.select_option("#id_item-owner", label="Hannah Hoffmann (Sales)")
    page.fill("#id_item-due_on", (timezone.localdate() + timedelta(days=14)).isoformat())
    page.locator("form[action$='/action-items/'] button[type=submit]").click()
    expect(page.locator("#action-items")).to_contain_text("Send the hiring forecast")
    page.locator("form[action$='/publish/'] button[type=submit]").click()
    expect(page.locator("#id_publish-summary")).to_have_class(
        re.compile(r"\bis-invalid\b")
    )  # the error beside the field
    page.fill("#id_publish-summary", "Laptops for new starters now come from the catalogue.")
    page.locator("form[action$='/publish/'] button[type=submit]").click()
    expect(page.get_by_role("alert")).to_contain_text("Outcomes published: the department")
    snap(page, "relations-meeting-published")

    # then Alice reads the outcome on her department's page, and has it under the bell
    page.context.clear_cookies()
    log_in(page, live_server, alice)
    page.goto(f"{live_server.url}/stakeholders/")
    expect(page).to_have_url(f"{live_server.url}/stakeholders/SALES/")
    expect(page.locator("#outcomes")).to_contain_text("Laptops for new starters now come from the catalogue.")
    expect(page.locator("#action-items")).to_contain_text("Send the hiring forecast")
    expect(page.locator("#bell-count")).to_contain_text("1")
    snap(page, "relations-department-page")
    told = set(
        Notification.objects.filter(kind=NotificationKind.MEETING_OUTCOMES, channel=Channel.IN_APP).values_list(
            "recipient__username", flat=True
        )
    )
    assert told == {alice.username, hannah.username}
    meeting.refresh_from_db()
    assert meeting.published_by == maria
