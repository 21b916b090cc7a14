"""The periodic close of completed requests: what it selects, what it records, and that reruns do nothing."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from requests_app import services, tasks
from requests_app.models import EventKind, ProcurementRequest, RequestEvent, Status
from servicedesk.celery import app
from tests.factories import file_request

WINDOW = timedelta(days=settings.REOPEN_WINDOW_DAYS)


def _request(requester, buyer, status, *, completed_at=None):
    """Setup only: a request written straight into `status`, completed at `completed_at`."""
    procurement_request = file_request(requester)
    ProcurementRequest.objects.filter(pk=procurement_request.pk).update(
        status=status, assignee=buyer, completed_at=completed_at
    )
    procurement_request.refresh_from_db()
    return procurement_request


def _status(procurement_request):
    return ProcurementRequest.objects.get(pk=procurement_request.pk).status


@pytest.mark.django_db
def test_only_completed_requests_past_the_reopen_window_are_closed(requester, buyer):
    # given requests on either side of the window, and some in other statuses
    now = timezone.now()
    overdue = _request(requester, buyer, Status.COMPLETED, completed_at=now - WINDOW - timedelta(seconds=1))
    long_overdue = _request(requester, buyer, Status.COMPLETED, completed_at=now - 3 * WINDOW)
    recent = _request(requester, buyer, Status.COMPLETED, completed_at=now - WINDOW + timedelta(seconds=1))
    reopened = _request(requester, buyer, Status.IN_PROGRESS, completed_at=now - 3 * WINDOW)
    cancelled = _request(requester, buyer, Status.CANCELLED, completed_at=now - 3 * WINDOW)

    # when the job runs
    closed = services.completed_requests_close(now=now)

    # then exactly the two overdue ones are closed
    assert closed == 2
    assert [_status(pr) for pr in (overdue, long_overdue, recent, reopened, cancelled)] == [
        Status.CLOSED,
        Status.CLOSED,
        Status.COMPLETED,
        Status.IN_PROGRESS,
        Status.CANCELLED,
    ]


@pytest.mark.django_db
def test_an_automatic_close_is_recorded_with_no_actor(requester, buyer):
    # given one overdue completed request
    now = timezone.now()
    overdue = _request(requester, buyer, Status.COMPLETED, completed_at=now - 2 * WINDOW)

    # when the job runs
    services.completed_requests_close(now=now)

    # then its timeline shows the system closing it
    event = overdue.events.latest("pk")
    assert (event.actor, event.from_status, event.to_status) == (None, Status.COMPLETED, Status.CLOSED)
    assert f"{settings.REOPEN_WINDOW_DAYS} days" in event.note


@pytest.mark.django_db
def test_a_second_run_closes_nothing_and_writes_nothing(requester, buyer):
    # given a run that closed the overdue requests
    now = timezone.now()
    for _ in range(3):
        _request(requester, buyer, Status.COMPLETED, completed_at=now - 2 * WINDOW)
    assert services.completed_requests_close(now=now) == 3
    events_after_first_run = RequestEvent.objects.count()

    # when it runs again
    closed_again = services.completed_requests_close(now=now)

    # then nothing more happens
    assert closed_again == 0
    assert RequestEvent.objects.count() == events_after_first_run


@pytest.mark.django_db
def test_batches_smaller_than_the_backlog_still_close_everything(requester, buyer, django_assert_num_queries):
    # given five overdue requests
    now = timezone.now()
    overdue = [_request(requester, buyer, Status.COMPLETED, completed_at=now - 2 * WINDOW) for _ in range(5)]

    events_before = set(RequestEvent.objects.values_list("pk", flat=True))

    # when the job runs in batches of two: per batch a savepoint, the select and its release;
    # per request the locked re-read, the update, the event, and the SLA check (a savepoint, the
    # locked current resolution clock and the savepoint's release), and whether an active webhook wants
    # request.status_changed (3 full batches, 2+2+1)
    with django_assert_num_queries(3 * 3 + 5 * (3 + 3 + 1)):
        closed = services.completed_requests_close(now=now, batch_size=2)

    # then all five are closed, with one event each: closing changes no clock, so no SLA line
    assert closed == 5
    assert {_status(pr) for pr in overdue} == {Status.CLOSED}
    new_events = RequestEvent.objects.exclude(pk__in=events_before)
    assert list(new_events.values_list("kind", "to_status")) == [(EventKind.STATUS_CHANGED, Status.CLOSED)] * 5


@pytest.mark.django_db
def test_the_periodic_task_closes_overdue_requests(requester, buyer):
    # given an overdue completed request
    overdue = _request(requester, buyer, Status.COMPLETED, completed_at=timezone.now() - 2 * WINDOW)

    # when the Celery task runs (in-process)
    closed = tasks.close_completed_requests.apply().get()

    # then it reports and does the close
    assert closed == 1
    assert _status(overdue) == Status.CLOSED


def test_the_beat_schedule_names_the_registered_task():
    # given the beat entry for closing completed requests
    entry = settings.CELERY_BEAT_SCHEDULE["close-completed-requests"]

    # when Celery looks the task up by name, then it finds this task
    registered = app.tasks[entry["task"]]
    assert registered.name == tasks.close_completed_requests.name
    assert registered.run is tasks.close_completed_requests.run
