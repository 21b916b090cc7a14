"""Webhooks in a real browser, with the real worker and a real receiver: Maria creates a webhook, sends a
test event and watches its row in the delivery log turn delivered (the log refreshes itself by htmx).

Transactional (live_server and the worker are other threads and processes): everything is created here.
"""

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import expect

from stakeholders.roles import Role
from tests.browser.test_portal import log_in, page, snap  # noqa: F401  (page: the suite's timeouts)
from tests.conftest import require_service
from tests.factories import DepartmentFactory, person
from tests.webhooks.receiver import Receiver, receiver_verifies
from webhooks.models import Webhook

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_maria_creates_a_webhook_sends_a_test_event_and_sees_it_delivered(page, live_server, celery_worker_process):  # noqa: F811
    require_service("Redis", bool(django_settings.REDIS_URL), "REDIS_URL is not set")
    procurement = DepartmentFactory(name="Procurement", code="PROC", is_procurement=True)
    maria = person(Role.PROCUREMENT_MANAGER, procurement, username="maria", first_name="Maria", last_name="Meyer")
    with Receiver() as receiver:
        # given Maria on the webhooks page, reached from the Manage menu
        log_in(page, live_server, maria)
        page.get_by_role("button", name="Manage").click()
        page.get_by_role("link", name="Webhooks").click()
        expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()

        # when she creates a webhook, first with a bad address, then the receiver's
        page.get_by_role("link", name="New webhook").click()
        page.get_by_label("Name").fill("ERP")
        page.get_by_label("Target URL").fill("ftp://erp.example.com/hooks")
        page.get_by_role("button", name="Create webhook").click()
        expect(page.locator("#div_id_target_url")).to_contain_text("Enter an http:// or https:// address")
        snap(page, "webhooks-01-bad-url")
        page.get_by_label("Target URL").fill(receiver.url)
        page.get_by_role("button", name="Create webhook").click()
        expect(page.get_by_role("heading", name="ERP")).to_be_visible()

        # and sends a test event
        page.get_by_role("button", name="Send a test event").click()

        # then the log's row turns delivered without a reload, and the receiver checks the signature
        row = page.locator("#deliveries tbody tr").first
        expect(row).to_have_attribute("data-status", "delivered", timeout=30_000)
        expect(row).to_contain_text("webhook.test")
        expect(row).to_contain_text("200")
        snap(page, "webhooks-02-delivered")
        (received,) = receiver.received
        webhook = Webhook.objects.get()
        assert received.json["event"] == "webhook.test"
        assert receiver_verifies(webhook.secret, received.headers["X-ServiceDesk-Signature"], received.body)
