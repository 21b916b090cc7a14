"""A real Celery worker, started by the suite, runs the periodic tasks against the test database."""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from requests_app import services
from requests_app.models import ProcurementRequest, RequestEvent, Status
from requests_app.routing import routing_defaults_ensure
from requests_app.tasks import close_completed_requests
from servicedesk.celery import app as celery_app
from slas.demo import sla_defaults_ensure
from tests.factories import file_request

pytestmark = pytest.mark.services

POLL_TIMEOUT = 30  # seconds


def _completed(procurement_request, *, buyer, days_ago):
    procurement_request = services.procurement_request_claim(procurement_request=procurement_request, actor=buyer)
    procurement_request = services.procurement_request_start(procurement_request=procurement_request, actor=buyer)
    procurement_request = services.procurement_request_complete(procurement_request=procurement_request, actor=buyer)
    # Test setup only: pretend the request was completed `days_ago` days ago.
    ProcurementRequest.objects.filter(pk=procurement_request.pk).update(
        completed_at=timezone.now() - timedelta(days=days_ago)
    )
    return procurement_request


def _wait_for_status(procurement_request, status, timeout=POLL_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procurement_request.refresh_from_db()
        if procurement_request.status == status:
            return
        time.sleep(0.2)
    pytest.fail(f"{procurement_request.reference} is still {procurement_request.status} after {timeout} s")


def _closing_events(procurement_request):
    return RequestEvent.objects.filter(procurement_request=procurement_request, to_status=Status.CLOSED)


@pytest.mark.django_db(transaction=True)
def test_worker_closes_completed_requests_past_the_reopen_window_once(celery_worker_process, requester, buyer):
    # given a request completed before the reopen window and one completed inside it
    assert not celery_app.conf.task_always_eager, "this test must run the task in the worker, not in-process"
    sla_defaults_ensure()  # the SLA set-up submissions need; an earlier transactional test flushed it
    routing_defaults_ensure()  # and routing's default rule
    window = settings.REOPEN_WINDOW_DAYS
    stale = _completed(file_request(requester, title="Stale"), buyer=buyer, days_ago=window + 1)
    recent = _completed(file_request(requester, title="Recent"), buyer=buyer, days_ago=window - 1)

    # when the periodic task is enqueued
    first = close_completed_requests.delay()

    # then the worker closes the stale request, with an event on its timeline, and only that one
    _wait_for_status(stale, Status.CLOSED)
    succeeded = celery_worker_process.wait_for_log(f"[{first.id}] succeeded")
    assert succeeded.endswith(": 1"), succeeded
    event = _closing_events(stale).get()
    assert event.from_status == Status.COMPLETED
    assert event.actor is None
    recent.refresh_from_db()
    assert recent.status == Status.COMPLETED
    events_after_first_run = RequestEvent.objects.filter(procurement_request=stale).count()
    updated_at = stale.updated_at

    # when it runs again, then nothing changes
    second = close_completed_requests.delay()
    succeeded = celery_worker_process.wait_for_log(f"[{second.id}] succeeded")
    assert succeeded.endswith(": 0"), succeeded
    stale.refresh_from_db()
    assert stale.status == Status.CLOSED
    assert stale.updated_at == updated_at
    assert RequestEvent.objects.filter(procurement_request=stale).count() == events_after_first_run
    assert _closing_events(stale).count() == 1


def test_worker_uses_redis_as_broker_when_redis_url_is_set(require_service, celery_worker_process):
    require_service("Redis", bool(settings.REDIS_URL), "REDIS_URL is not set; the embedded filesystem broker is used")

    assert settings.CELERY_BROKER_URL == settings.REDIS_URL
    with celery_app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1)
        assert connection.transport.driver_type == "redis"
        assert f"transport:   {connection.as_uri()}" in celery_worker_process.log()


def test_worker_consumes_the_suites_own_queue_on_the_producers_broker(celery_worker_process):
    # Whatever the broker, the worker listens where the tests publish, apart from a developer's worker.
    log = celery_worker_process.log()
    queue = celery_app.conf.task_default_queue
    assert queue == "servicedesk-tests"
    assert f".> {queue} " in log
    with celery_app.connection_for_write() as connection:
        assert f"transport:   {connection.as_uri()}" in log
    if not settings.REDIS_URL:
        folder = settings.VAR_DIR / "test-celery-broker"
        assert celery_app.conf.broker_url.startswith("filesystem://")
        assert celery_app.conf.broker_transport_options["data_folder_in"] == str(folder / "queue")
