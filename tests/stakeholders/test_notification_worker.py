"""End to end with the real worker: a request's news leaves the outbox as threaded e-mails, a burst as one."""

import email
import re
import time
from datetime import timedelta
from email import policy

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from requests_app import services as request_services
from requests_app.routing import routing_defaults_ensure
from servicedesk.celery import app as celery_app
from slas.demo import sla_defaults_ensure
from stakeholders.models import Channel, DeliveryStatus, Notification
from stakeholders.services import notifications_requeue
from tests.conftest import require_service
from tests.factories import file_request
from tests.slas.workers import wait_until

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

WINDOW = 10  # seconds: long enough for three replies on a loaded machine (about 1.5 s each seen), short for a test
SEPARATOR = re.compile(rb"^-{79}\r?$", re.MULTILINE)  # Django's file backend writes this between messages


def messages_in(mail_dir, skip):
    found = []
    for path in sorted(mail_dir.glob("*.log")):
        if path.name in skip:
            continue
        for chunk in SEPARATOR.split(path.read_bytes()):
            if chunk.strip():
                found.append(email.message_from_bytes(chunk.strip(), policy=policy.default))
    return found


def text_of(message):
    return message.get_body(preferencelist=("plain",)).get_content()


def drain_outbox():
    """What the minute sweep does once the coalescing window has passed: enqueue every e-mail that is due;
    then wait for the worker to send them all."""
    time.sleep(WINDOW + 0.5)  # the window has passed for everything written so far
    notifications_requeue(now=timezone.now() + timedelta(seconds=61))
    outstanding = Notification.objects.filter(channel=Channel.EMAIL).exclude(status=DeliveryStatus.SENT)
    wait_until(lambda: not outstanding.exists(), timeout=60, interval=0.3, what="the outbox drained by the worker")


def test_the_worker_drains_the_outbox_into_threaded_emails_and_a_burst_of_replies_is_one(
    celery_worker_process, requester, buyer, settings
):
    require_service(
        "Redis", bool(django_settings.REDIS_URL), "REDIS_URL is not set; the embedded filesystem broker is used"
    )
    assert not celery_app.conf.task_always_eager
    settings.NOTIFICATION_COALESCE_SECONDS = WINDOW
    sla_defaults_ensure()
    routing_defaults_ensure()
    skip = {path.name for path in celery_worker_process.mail_dir.glob("*.log")}

    # given a request Alice filed and Bob claimed, its first news e-mailed
    procurement_request = file_request(requester)
    procurement_request = request_services.procurement_request_claim(
        procurement_request=procurement_request, actor=buyer
    )
    drain_outbox()
    first = messages_in(celery_worker_process.mail_dir, skip)
    skip |= {path.name for path in celery_worker_process.mail_dir.glob("*.log")}

    # when Bob replies three times within the window
    started = time.monotonic()
    for number in (1, 2, 3):
        request_services.comment_add(procurement_request=procurement_request, author=buyer, body=f"Answer {number}")
    assert time.monotonic() - started < WINDOW
    drain_outbox()

    # then Alice gets one e-mail listing the three, on the request's thread, with the link to it
    (burst,) = messages_in(celery_worker_process.mail_dir, skip)
    reference = procurement_request.reference
    assert burst["To"] == requester.email
    assert burst["Subject"] == f"[{reference}] 3 updates: {procurement_request.title}"
    thread = f"<{reference}@127.0.0.1>"
    assert (burst["In-Reply-To"], burst["References"]) == (thread, thread)
    text = text_of(burst)
    assert text.index("Answer 1") < text.index("Answer 2") < text.index("Answer 3")
    assert f"Open the request: http://127.0.0.1:8000/requests/{reference}/" in text
    assert "Answer 3" in burst.get_body(preferencelist=("html",)).get_content()
    # and the earlier news (receipt and "assigned", coalesced too) went on the same thread, with its own Message-ID
    assert [message["In-Reply-To"] for message in first] == [thread]
    assert first[0]["Message-ID"] != burst["Message-ID"]
    assert first[0]["Subject"] == f"[{reference}] 2 updates: {procurement_request.title}"
    replies = Notification.objects.filter(channel=Channel.EMAIL, kind="reply").order_by("pk")
    assert [reply.sent_with_id for reply in replies] == [None, replies[0].pk, replies[0].pk]
