"""One-click approval in a real browser: Hannah opens the Approve link from the e-mail in the test mailbox,
signs in, confirms, and lands on the request, approved.

Transactional test (live_server runs in another thread): everything is created inside the test.
"""

import re
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from requests_app.models import Status
from stakeholders.models import Channel, Notification, NotificationKind
from stakeholders.services import notification_deliver
from tests.browser import test_portal
from tests.browser.test_portal import PASSWORD, snap
from tests.factories import file_request

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

sales = test_portal.sales  # Sales with Alice and her head Hannah, Goods (approval above 5,000 EUR)


def test_the_head_approves_from_the_link_in_the_email(page, live_server, sales, settings):
    # given links in e-mails point at this server, and Alice files a request that needs Hannah's approval
    settings.SITE_URL = live_server.url
    hannah = sales["hannah"]
    procurement_request = file_request(
        sales["alice"], title="Trade fair booth", estimated_value=Decimal("6000"), description="For the May fair."
    )
    # and the approval e-mail leaves the outbox (after quiet hours, if the desk is closed now)
    notice = Notification.objects.get(recipient=hannah, kind=NotificationKind.APPROVAL, channel=Channel.EMAIL)
    mail.outbox.clear()
    now = max(notice.not_before or timezone.now(), timezone.now())
    assert notification_deliver(notification_id=notice.pk, now=now) == "sent"
    (message,) = mail.outbox
    html = message.alternatives[0][0]
    approve = re.search(r'href="([^"]+/requests/decide/[^"]+/)"[^>]*>Approve<', html).group(1)

    # when Hannah opens the Approve link: she signs in first, then sees the request in brief
    page.goto(approve)
    page.get_by_label("Username").fill(hannah.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#approval-summary")).to_contain_text("Trade fair booth")
    expect(page.locator("#approval-justification")).to_contain_text("For the May fair.")
    snap(page, "approval-link-01-confirm")
    procurement_request.refresh_from_db()
    assert procurement_request.status == Status.PENDING_APPROVAL  # opening the link decided nothing

    # when she presses Approve
    page.get_by_role("button", name="Approve").click()

    # then she lands on the request, approved
    expect(page).to_have_url(re.compile(rf"/requests/{procurement_request.reference}/$"))
    expect(page.locator("#request-status")).to_contain_text("Approved")
    snap(page, "approval-link-02-approved")
    procurement_request.refresh_from_db()
    assert procurement_request.status == Status.APPROVED

    # and opening the link again says it is already decided, with the way to the request
    page.goto(approve)
    expect(page.locator("#approval-link-refused")).to_contain_text("already decided")
    expect(page.locator("#approval-link-request")).to_have_attribute(
        "href", f"/requests/{procurement_request.reference}/"
    )
    snap(page, "approval-link-03-decided")
