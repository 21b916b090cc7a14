"""Scheduled digests: the content on a hand-made data set, once per person and period, the e-mail
preference and quiet hours."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings

from requests_app import services as request_services
from requests_app.models import ProcurementRequest, Status
from slas.models import Metric, SlaClock
from stakeholders import relations
from stakeholders.digests import digests_send, period_start
from stakeholders.models import (
    ActionItem,
    ActionItemStatus,
    Channel,
    DeliveryStatus,
    Notification,
    NotificationKind,
    NotificationPreference,
    SatisfactionSurvey,
    ScheduledSend,
    ScheduledSendKind,
    SurveyFollowUp,
)
from tests.factories import file_request

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
# Monday morning in office hours (the desk calendar: Mon–Fri 08:00–12:00, 13:00–17:00 Berlin).
MONDAY_10 = datetime(2026, 3, 9, 10, 0, tzinfo=BERLIN)
WEEKLY = ScheduledSendKind.WEEKLY_DIGEST


def digest_notices(kind=NotificationKind.WEEKLY_DIGEST, **filters):
    return Notification.objects.filter(kind=kind, **filters)


@pytest.fixture
def requests_of_alice(requester, buyer):
    """Alice's three open requests (one waiting for her answer, one with an expected date) and a cancelled one."""
    laptops = file_request(requester, title="Laptops")
    chairs = file_request(requester, title="Chairs")
    request_services.procurement_request_claim(procurement_request=chairs, actor=buyer)
    request_services.procurement_request_wait_for_requester(
        procurement_request=chairs, actor=buyer, note="Which colour do you need?"
    )
    desks = file_request(requester, title="Desks")
    ProcurementRequest.objects.filter(pk=desks.pk).update(expected_on=date(2026, 3, 20))
    gone = file_request(requester, title="Pens")
    request_services.procurement_request_cancel(procurement_request=gone, actor=requester, note="Not needed")
    return laptops, chairs, desks


def test_the_weekly_digest_lists_open_requests_expected_dates_and_questions(requester, requests_of_alice):
    # given Alice's open requests
    laptops, chairs, desks = requests_of_alice

    # when the Monday digest runs
    reached = digests_send(kind=WEEKLY, now=MONDAY_10)

    # then she alone gets one in-app line and one e-mail, sent at once (the desk is open)
    assert reached == 1
    in_app = digest_notices(channel=Channel.IN_APP).get()
    email = digest_notices(channel=Channel.EMAIL).get()
    assert in_app.recipient == email.recipient == requester
    assert email.status == DeliveryStatus.PENDING and email.not_before is None
    assert in_app.subject == "Your week: 3 open requests, 1 waiting for you"
    body = email.payload["body"]
    assert f"Waiting for you:\n- {chairs.reference} Chairs\n  Question: Which colour do you need?" in body
    assert f"- {laptops.reference} Laptops: Submitted\n" in body
    assert f"- {chairs.reference} Chairs: Waiting for requester\n" in body
    assert f"- {desks.reference} Desks: Submitted, expected Fri 20 Mar 2026\n" in body
    assert "Pens" not in body
    assert email.payload["path"] == "/requests/mine/"
    assert ScheduledSend.objects.get().period_start == date(2026, 3, 9)


def test_a_second_run_in_the_same_week_sends_nothing(requester, requests_of_alice):
    # given the digest sent on Monday
    digests_send(kind=WEEKLY, now=MONDAY_10)

    # when it runs again on Monday and on Thursday of the same week
    again = digests_send(kind=WEEKLY, now=MONDAY_10)
    thursday = digests_send(kind=WEEKLY, now=datetime(2026, 3, 12, 9, 0, tzinfo=BERLIN))

    # then nobody is sent anything twice; the next week is a new period
    assert (again, thursday) == (0, 0)
    assert digest_notices().count() == 2
    assert digests_send(kind=WEEKLY, now=datetime(2026, 3, 16, 10, 0, tzinfo=BERLIN)) == 1
    assert digest_notices().count() == 4


def test_with_the_preference_off_the_requester_gets_the_in_app_line_only(requester, requests_of_alice):
    # given Alice turned the weekly digest e-mail off
    NotificationPreference.objects.create(user=requester, kind=NotificationKind.WEEKLY_DIGEST, by_email=False)

    # when the digest runs
    digests_send(kind=WEEKLY, now=MONDAY_10)

    # then the in-app line is there, and no e-mail
    assert list(digest_notices().values_list("channel", flat=True)) == [Channel.IN_APP]
    assert ScheduledSend.objects.filter(recipient=requester).exists()


def test_before_office_hours_the_digest_email_waits_for_the_opening(requester, requests_of_alice):
    # when the digest runs on Monday at 07:30, before the desk opens at 08:00
    digests_send(kind=WEEKLY, now=MONDAY_10.replace(hour=7, minute=30))

    # then the e-mail is held until 08:00 and the in-app line is there at once
    email = digest_notices(channel=Channel.EMAIL).get()
    assert email.status == DeliveryStatus.HELD
    assert email.not_before == MONDAY_10.replace(hour=8)
    assert digest_notices(channel=Channel.IN_APP).get().status == DeliveryStatus.SENT


def test_no_digest_for_people_without_open_requests(requester, colleague, buyer):
    # given Carol has only a cancelled request, Alice none at all
    gone = file_request(colleague, title="Pens")
    request_services.procurement_request_cancel(procurement_request=gone, actor=colleague, note="Not needed")

    # when the digest runs
    reached = digests_send(kind=WEEKLY, now=MONDAY_10)

    # then nobody is sent one
    assert reached == 0
    assert not digest_notices().exists() and not ScheduledSend.objects.exists()


def test_the_digest_reads_a_batch_in_a_fixed_number_of_queries(requester, colleague, buyer, django_assert_num_queries):
    # given two requesters with open requests, one waiting for an answer
    for person in (requester, colleague):
        for title in ("Laptops", "Chairs"):
            file_request(person, title=title)
    chairs = ProcurementRequest.objects.filter(requester=colleague, title="Chairs").get()
    request_services.procurement_request_claim(procurement_request=chairs, actor=buyer)
    request_services.procurement_request_wait_for_requester(procurement_request=chairs, actor=buyer, note="Colour?")

    # then the whole run is a fixed number of queries, whatever the number of people and requests:
    # candidates, lock, content, desk calendar (2), ScheduledSend rows, preferences, notices, and the
    # savepoints of the two atomic blocks (4)
    with django_assert_num_queries(12):
        assert digests_send(kind=WEEKLY, now=MONDAY_10) == 2


@pytest.mark.parametrize(
    ("kind", "today", "start"),
    [
        (ScheduledSendKind.WEEKLY_DIGEST, date(2026, 3, 15), date(2026, 3, 9)),
        (ScheduledSendKind.MANAGER_SUMMARY, date(2026, 3, 9), date(2026, 3, 9)),
        (ScheduledSendKind.DEPARTMENT_SCORECARD, date(2026, 3, 31), date(2026, 3, 1)),
    ],
)
def test_each_digest_is_once_per_week_or_month(kind, today, start):
    assert period_start(kind, today) == start


# --- The monthly scorecard to department heads ------------------------------------------------------

SCORECARD = ScheduledSendKind.DEPARTMENT_SCORECARD
# The 1st of April, a Wednesday, in office hours: March's scorecard.
APRIL_1 = datetime(2026, 4, 1, 9, 0, tzinfo=BERLIN)


def march(day, hour=10):
    return datetime(2026, 3, day, hour, 0, tzinfo=BERLIN)


def verdict(procurement_request, metric, *, met, stopped_at):
    clocks = SlaClock.objects.filter(procurement_request=procurement_request, metric=metric, is_current=True)
    assert (
        clocks.update(
            started_at=stopped_at - timedelta(hours=1), stopped_at=stopped_at, met=met, computed_at=stopped_at
        )
        == 1
    )


def survey(procurement_request, *, sent_at, rating=None):
    return SatisfactionSurvey.objects.create(
        procurement_request=procurement_request,
        requester=procurement_request.requester,
        department=procurement_request.department,
        sent_at=sent_at,
        rating=rating,
        answered_at=sent_at if rating else None,
    )


@pytest.fixture
def sales_march(department, other_department, requester, other_requester, head, manager):
    """Sales's March, by hand: one request delivered on time, one at risk, one breached; Finance's apart."""
    delivered = file_request(requester, title="Laptops")
    at_risk = file_request(requester, title="Chairs")
    breached = file_request(requester, title="Desks")
    finance = file_request(other_requester, title="Ledgers")
    verdict(delivered, Metric.FIRST_RESPONSE, met=True, stopped_at=march(3))
    verdict(delivered, Metric.RESOLUTION, met=True, stopped_at=march(12))
    verdict(at_risk, Metric.FIRST_RESPONSE, met=False, stopped_at=march(20))
    # Measured in February, and another department's: not in Sales's March.
    verdict(breached, Metric.FIRST_RESPONSE, met=True, stopped_at=datetime(2026, 2, 23, 10, tzinfo=BERLIN))
    verdict(finance, Metric.FIRST_RESPONSE, met=False, stopped_at=march(3))
    ProcurementRequest.objects.filter(pk=delivered.pk).update(status=Status.COMPLETED, completed_at=march(12))
    ProcurementRequest.objects.filter(pk=at_risk.pk).update(sla_threshold=80)
    ProcurementRequest.objects.filter(pk=breached.pk).update(sla_threshold=100, sla_breached=True)
    survey(delivered, sent_at=march(12), rating=4)
    survey(at_risk, sent_at=march(25))
    survey(breached, sent_at=datetime(2026, 2, 25, 10, tzinfo=BERLIN), rating=1)
    meeting = relations.meeting_plan(
        department=department, actor=manager, title="Review", starts_at=march(5), now=march(5)
    )
    relations.action_item_add(
        meeting=meeting, actor=manager, title="Send the forecast", owner=head, due_on=date(2026, 3, 25)
    )
    done = relations.action_item_add(
        meeting=meeting, actor=manager, title="Old item", owner=head, due_on=date(2026, 3, 6)
    )
    ActionItem.objects.filter(pk=done.pk).update(status=ActionItemStatus.DONE)
    return delivered, at_risk, breached


def test_the_scorecard_tells_the_head_last_months_promises_delivery_risks_csat_and_action_items(
    head, requester, sales_march
):
    # when the monthly scorecard runs on the 1st of April
    reached = digests_send(kind=SCORECARD, now=APRIL_1)

    # then Sales's head alone gets March's figures, with the link to the department's scorecard
    assert reached == 1
    email = digest_notices(NotificationKind.DEPARTMENT_SCORECARD, channel=Channel.EMAIL).get()
    assert email.recipient == head
    assert email.subject == "Sales: scorecard for March 2026"
    assert email.payload["path"] == "/stakeholders/SALES/scorecard/"
    assert email.payload["body"].splitlines()[0:11] == [
        "Sales, March 2026",
        "Promised and delivered (SLA goals met):",
        "- First response: 1 of 2 met (50 %)",
        "- Resolution: 1 of 1 met (100 %)",
        "Requests completed: 1",
        "Open now: 2, 1 at risk, 1 breached",
        "Satisfaction: 4.0 of 5 from 1 answer (50 % of 2 surveys answered)",
        "Open action items: 1",
        f"- Send the forecast: {head.get_full_name()}, due Wed 25 Mar 2026 (overdue)",
        f"Scorecard: {settings.SITE_URL}/stakeholders/SALES/scorecard/",
        "",
    ]
    assert ScheduledSend.objects.get(kind=SCORECARD).period_start == date(2026, 4, 1)


def test_a_second_scorecard_run_in_the_same_month_sends_nothing(head, sales_march):
    # given March's scorecard sent on the 1st
    digests_send(kind=SCORECARD, now=APRIL_1)

    # when beat runs it again later in April
    again = digests_send(kind=SCORECARD, now=datetime(2026, 4, 2, 9, 0, tzinfo=BERLIN))

    # then nothing more is sent
    assert again == 0
    assert digest_notices(NotificationKind.DEPARTMENT_SCORECARD).count() == 2


# --- The weekly summary to procurement managers ----------------------------------------------------

SUMMARY = ScheduledSendKind.MANAGER_SUMMARY


def test_the_managers_summary_lists_breaches_risks_low_scores_and_follow_ups(
    requester, other_requester, buyer, manager, head
):
    # given one breached request (Bob's), one at risk (nobody's) and one on track
    breached = file_request(requester, title="Laptops")
    request_services.procurement_request_claim(procurement_request=breached, actor=buyer)
    at_risk = file_request(other_requester, title="Ledgers")
    on_track = file_request(requester, title="Pens")
    ProcurementRequest.objects.filter(pk=breached.pk).update(sla_threshold=100, sla_breached=True)
    ProcurementRequest.objects.filter(pk=at_risk.pk).update(sla_threshold=80)
    # and this week a low score with a comment and a good one, and last week another low one
    low = survey(on_track, sent_at=MONDAY_10 - timedelta(days=3), rating=2)
    SatisfactionSurvey.objects.filter(pk=low.pk).update(buyer=buyer, comment="Too slow")
    survey(at_risk, sent_at=MONDAY_10 - timedelta(days=2), rating=5)
    survey(breached, sent_at=MONDAY_10 - timedelta(days=9), rating=1)
    # and the low score's follow-up, overdue since Saturday
    SurveyFollowUp.objects.create(
        survey=low, owner=manager, opened_at=MONDAY_10 - timedelta(days=3), due_at=MONDAY_10 - timedelta(days=2)
    )

    # when the Monday summary runs
    reached = digests_send(kind=SUMMARY, now=MONDAY_10)

    # then the manager alone gets it
    assert reached == 1
    email = digest_notices(NotificationKind.MANAGER_SUMMARY, channel=Channel.EMAIL).get()
    assert email.recipient == manager
    assert email.subject == "Procurement this week: 1 breached, 1 at risk, 1 low score"
    assert email.payload["path"] == "/requests/queue/breached/"
    assert email.payload["body"].splitlines()[0:9] == [
        "Breached now: 1",
        f"- {breached.reference} Laptops ({buyer.get_full_name()})",
        "At risk now: 1",
        f"- {at_risk.reference} Ledgers (unassigned)",
        "Low scores this week: 1",
        f"- {on_track.reference} (Sales, {buyer.get_full_name()}) rated 2: “Too slow”",
        # the dashboard's fairness flags over 30 days (too few completed requests here to flag anyone)
        "Departments treated differently (last 30 days): 0",
        "Follow-ups open: 1, 1 overdue",
        f"- {on_track.reference}: {manager.get_full_name()}, due Sat 07 Mar 2026 (overdue)",
    ]

    # and a second run the same week sends nothing
    assert digests_send(kind=SUMMARY, now=MONDAY_10 + timedelta(hours=2)) == 0
    assert digest_notices(NotificationKind.MANAGER_SUMMARY).count() == 2


@pytest.mark.parametrize(
    ("entry", "kind"),
    [
        ("weekly-requester-digest", WEEKLY),
        ("monthly-department-scorecard", SCORECARD),
        ("weekly-manager-summary", SUMMARY),
    ],
)
def test_beat_runs_each_digest_and_an_idle_run_costs_one_query(settings, entry, kind, django_assert_num_queries):
    from stakeholders import tasks

    # given beat's entry for the digest
    entry = settings.CELERY_BEAT_SCHEDULE[entry]
    assert entry["task"] == tasks.send_digests.name and entry["args"] == (kind.value,)

    # when it runs with nobody to tell, it is one query and sends nothing
    with django_assert_num_queries(1):
        assert tasks.send_digests(*entry["args"]) == 0
