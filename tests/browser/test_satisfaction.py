"""Request satisfaction in a real browser: the buyer completes a request; the requester answers the
survey from the e-mail's one-click link with a low score; the procurement manager sees the score on
the SLA dashboard; the team lead sees the follow-up on the queue and closes it with a note; the
requester sees that the feedback was followed up."""

import re

import pytest
from playwright.sync_api import expect

from requests_app import services
from requests_app.models import BuyerTeam
from requests_app.routing import routing_defaults_ensure
from slas.demo import sla_defaults_ensure
from stakeholders.models import Channel, Notification, NotificationKind, SurveyFollowUp
from stakeholders.roles import Role
from tests.browser.test_portal import log_in, page, snap  # noqa: F401 (page: the fixture with timeouts)
from tests.factories import DepartmentFactory, file_request, person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_low_score_from_the_email_link_reaches_the_team_lead_who_closes_the_loop(page, live_server):  # noqa: F811
    # given Alice's request in progress with Bob, in a team Betty leads
    sla_defaults_ensure()  # an earlier transactional test may have flushed them
    routing_defaults_ensure()
    sales = DepartmentFactory(name="Sales", code="SALES")
    procurement = DepartmentFactory(name="Procurement", code="PROC", is_procurement=True)
    alice = person(Role.REQUESTER, sales, username="alice", first_name="Alice", last_name="Andersen")
    bob = person(Role.BUYER, procurement, username="bob", first_name="Bob", last_name="Brandt")
    betty = person(Role.BUYER, procurement, username="betty", first_name="Betty", last_name="Berger")
    procurement_request = file_request(alice, title="Headsets for the sales team")
    procurement_request = services.procurement_request_claim(procurement_request=procurement_request, actor=bob)
    services.procurement_request_start(procurement_request=procurement_request, actor=bob)
    BuyerTeam.objects.filter(pk=procurement_request.team_id).update(lead=betty)

    # when Bob completes it on the request page
    log_in(page, live_server, bob)
    page.goto(f"{live_server.url}/requests/{procurement_request.reference}/")
    page.locator("#action-item-complete button[type=submit]").click()  # one click: the note is optional
    expect(page.locator("#request-status")).to_contain_text("Completed")

    # then Alice has a survey e-mail with a link per rating; she opens the one for "1"
    email = Notification.objects.get(kind=NotificationKind.SURVEY, channel=Channel.EMAIL, recipient=alice)
    link = re.search(r"(/surveys/\S+\?rating=1)", email.payload["body"]).group(1)
    page.context.clear_cookies()
    log_in(page, live_server, alice)
    page.goto(f"{live_server.url}{link}")
    expect(page.get_by_label("1 – Very poor")).to_be_checked()
    page.get_by_label("Comment (optional)").fill("Two headsets were broken.")
    page.get_by_role("button", name="Send my answer").click()
    expect(page.get_by_role("alert")).to_contain_text("Thank you: your answer is saved.")
    expect(page.locator("#follow-up-open")).to_contain_text("Betty Berger will follow up with you")
    snap(page, "satisfaction-survey-answered")

    # and Maria, a procurement manager, sees the score on the dashboard
    maria = person(Role.PROCUREMENT_MANAGER, procurement, username="maria", first_name="Maria", last_name="Martens")
    page.context.clear_cookies()
    log_in(page, live_server, maria)
    page.goto(f"{live_server.url}/slas/dashboard/")
    expect(page.locator("#tile-csat")).to_contain_text("1.0")
    expect(page.get_by_text("1 of 1 answered (100 %)")).to_be_visible()

    # when Betty opens her queue, she sees the follow-up and opens it
    page.context.clear_cookies()
    log_in(page, live_server, betty)
    page.goto(f"{live_server.url}/requests/queue/mine/")
    follow_ups = page.locator("#follow-ups")
    expect(follow_ups).to_contain_text(procurement_request.reference)
    expect(follow_ups).to_contain_text("1/5")
    snap(page, "satisfaction-queue-follow-ups")
    follow_ups.get_by_role("link", name=procurement_request.reference).click()
    expect(page.locator("#follow-up-comment")).to_contain_text("Two headsets were broken.")
    # closing without a note is refused beside the field
    page.get_by_role("button", name="Close the follow-up").click()
    expect(page.locator("#id_note")).to_have_class(re.compile(r"\bis-invalid\b"))
    page.get_by_label("What was done").fill("Called Alice; two replacement headsets sent today.")
    page.get_by_role("button", name="Close the follow-up").click()
    expect(page.locator("#follow-up-closed")).to_contain_text("two replacement headsets sent today")
    page.goto(f"{live_server.url}/requests/queue/mine/")
    expect(page.locator("#follow-ups")).to_have_count(0)

    # then Alice sees on her request that her feedback was followed up
    page.context.clear_cookies()
    log_in(page, live_server, alice)
    page.goto(f"{live_server.url}/requests/{procurement_request.reference}/")
    expect(page.locator("#survey-follow-up")).to_contain_text("Followed up by Betty Berger")
    snap(page, "satisfaction-request-followed-up")
    follow_up = SurveyFollowUp.objects.get()
    assert (follow_up.owner, follow_up.closed_by) == (betty, betty)
