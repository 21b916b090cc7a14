"""Notifications in a real browser: the requester's bell rises when the buyer replies, the notice leads to the
request, and the count drops; a colleague follows the request with one click.

Transactional tests (live_server runs in another thread): everything is created inside the test.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from requests_app import services
from requests_app.models import Watcher
from stakeholders.roles import Role
from tests.browser import test_portal
from tests.browser.test_portal import log_in, snap
from tests.factories import DepartmentFactory, file_request, person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

sales = test_portal.sales  # Sales with Alice and her head, the standard SLAs and routing


@pytest.fixture
def bob():
    procurement = DepartmentFactory(name="Procurement", code="PROC", is_procurement=True)
    return person(Role.BUYER, procurement, username="bob", first_name="Bob", last_name="Brandt")


def test_the_bell_rises_when_the_buyer_replies_and_drops_once_the_notice_is_opened(page, live_server, sales, bob):
    # given Alice's request, claimed by Bob, and Alice reading her notices up to now
    alice = sales["alice"]
    procurement_request = services.procurement_request_claim(procurement_request=file_request(alice), actor=bob)
    log_in(page, live_server, alice)
    page.goto(f"{live_server.url}/notifications/")
    page.get_by_role("button", name="Mark all as read").click()
    expect(page.locator("#bell-count")).to_have_count(0)

    # when Bob replies, the bell shows one unread notice (its next refresh: here, the next page)
    services.comment_add(procurement_request=procurement_request, author=bob, body="Black or silver?")
    page.goto(f"{live_server.url}/requests/mine/")
    expect(page.locator("#bell-count")).to_have_text(re.compile(r"^1"))
    snap(page, "notifications-01-bell")

    # when she opens the bell and the notice, she lands on the request, and the count drops
    page.locator("#bell").click()
    notice = page.get_by_role("link", name=f"[{procurement_request.reference}] Bob Brandt replied")
    expect(notice).to_be_visible()
    snap(page, "notifications-02-list")
    notice.click()
    expect(page).to_have_url(re.compile(rf"/requests/{procurement_request.reference}/$"))
    expect(page.get_by_text("Black or silver?")).to_be_visible()
    expect(page.locator("#bell-count")).to_have_count(0)


def test_a_colleague_follows_a_request_without_a_reload(page, live_server, sales):
    alice = sales["alice"]
    department = alice.membership.department
    person(Role.REQUESTER, department, username="carol", first_name="Carol", last_name="Castillo")
    procurement_request = file_request(alice)
    log_in(page, live_server, get_user_model().objects.get(username="carol"))
    page.goto(f"{live_server.url}/requests/{procurement_request.reference}/")
    page.evaluate("window.__sameDocument = true")

    page.locator("#follow-button").click()

    expect(page.locator("#follow-button")).to_have_text(re.compile("Unfollow"))
    expect(page.locator("#watchers")).to_contain_text("Carol Castillo (you)")
    assert page.evaluate("window.__sameDocument") is True  # swapped by htmx, not reloaded
    assert list(Watcher.objects.values_list("user__username", flat=True)) == ["carol"]
    snap(page, "notifications-03-followed")
