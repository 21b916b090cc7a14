"""Internal customer relations: agreements are versioned, meetings publish outcomes to the department's
staff, and the sweep reminds overdue action items and passed review dates exactly once."""

import threading
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, connections

from slas.models import SlaPolicy
from stakeholders import relations
from stakeholders.models import (
    ActionItemStatus,
    Channel,
    DeliveryStatus,
    Meeting,
    MeetingSchedule,
    Notification,
    NotificationKind,
    NotificationPreference,
    RelationReminder,
    ServiceAgreement,
)
from stakeholders.roles import Role
from tests.factories import person

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
# A Tuesday morning in office hours (the desk calendar: Mon–Fri 08:00–12:00, 13:00–17:00 Berlin).
TUESDAY_10 = datetime(2026, 3, 10, 10, 0, tzinfo=BERLIN)


def notices(kind, **filters):
    return Notification.objects.filter(kind=kind, **filters)


def agreement_for(department, manager, *, review_on, version_note=""):
    return relations.service_agreement_create(
        department=department, actor=manager, review_on=review_on, change_note=version_note, now=TUESDAY_10
    )


def held_meeting(department, manager, *, days_ago=2):
    return relations.meeting_plan(
        department=department,
        actor=manager,
        title="Quarterly service review",
        starts_at=TUESDAY_10 - timedelta(days=days_ago),
        now=TUESDAY_10,
    )


# --- Service agreements ---------------------------------------------------------------------------


def test_every_change_to_an_agreement_is_a_new_version_and_the_old_ones_stay(department, manager):
    # given an agreement naming the default policy
    policy = SlaPolicy.objects.get(is_default=True)
    first = relations.service_agreement_create(
        department=department, actor=manager, review_on=date(2026, 9, 1), policies=[policy], deviations="None"
    )

    # when it is changed
    second = relations.service_agreement_create(
        department=department,
        actor=manager,
        review_on=date(2027, 3, 1),
        deviations="Urgent IT orders answered within 30 minutes.",
        change_note="Faster first response for urgent IT orders",
    )

    # then both versions exist, the newest is current, and the first is unchanged
    assert (first.version, second.version) == (1, 2)
    assert list(ServiceAgreement.objects.filter(department=department).values_list("version", flat=True)) == [2, 1]
    assert list(ServiceAgreement.objects.current().filter(department=department)) == [second]
    first.refresh_from_db()
    assert first.deviations == "None" and list(first.policies.all()) == [policy]


@pytest.mark.parametrize("who", ["requester", "head", "buyer"])
def test_only_procurement_managers_record_agreements(department, request, who):
    actor = request.getfixturevalue(who)
    with pytest.raises(PermissionDenied):
        relations.service_agreement_create(department=department, actor=actor, review_on=date(2027, 1, 1))
    assert not ServiceAgreement.objects.exists()


def test_the_department_head_signs_off_the_current_version_once(department, manager, head, requester):
    # given two versions
    old = agreement_for(department, manager, review_on=date(2027, 1, 1))
    current = agreement_for(department, manager, review_on=date(2027, 6, 1))

    # then a requester may not sign off, nor anybody an old version
    with pytest.raises(PermissionDenied):
        relations.service_agreement_sign_off(agreement=current, actor=requester)
    with pytest.raises(ValidationError, match="newer version"):
        relations.service_agreement_sign_off(agreement=old, actor=head)

    # when the head signs off the current one
    relations.service_agreement_sign_off(agreement=current, actor=head, now=TUESDAY_10)

    # then it records who and when, and a second sign-off is refused
    current.refresh_from_db()
    assert (current.signed_off_by, current.signed_off_at) == (head, TUESDAY_10)
    with pytest.raises(ValidationError, match="already signed off"):
        relations.service_agreement_sign_off(agreement=current, actor=manager)


def test_a_passed_review_date_reminds_the_procurement_managers_once(department, manager, buyer, head):
    # given an agreement whose review date passed yesterday, and another manager
    other_manager = person(Role.PROCUREMENT_MANAGER, manager.membership.department, username="max")
    agreement_for(department, manager, review_on=date(2026, 3, 9))

    # when the sweep runs twice
    first = relations.relations_reminders_sweep(now=TUESDAY_10)
    second = relations.relations_reminders_sweep(now=TUESDAY_10 + timedelta(hours=1))

    # then each manager was told once, in the app and by e-mail, and nobody else
    assert (first.agreement_reviews, second.agreement_reviews) == (1, 0)
    told = notices(NotificationKind.AGREEMENT_REVIEW)
    assert sorted(told.values_list("recipient__username", "channel")) == sorted(
        [(user.username, channel) for user in (manager, other_manager) for channel in Channel.values]
    )
    assert "Sales" in told.first().subject and told.first().url == f"/stakeholders/{department.code}/"


def test_a_new_version_with_the_same_passed_review_date_does_not_remind_again(department, manager):
    agreement_for(department, manager, review_on=date(2026, 3, 9))
    relations.relations_reminders_sweep(now=TUESDAY_10)
    agreement_for(department, manager, review_on=date(2026, 3, 9), version_note="Notes only")
    relations.relations_reminders_sweep(now=TUESDAY_10)
    assert RelationReminder.objects.count() == 1
    # while a new review date that passes reminds again
    agreement_for(department, manager, review_on=date(2026, 3, 10))
    assert relations.relations_reminders_sweep(now=TUESDAY_10 + timedelta(days=1)).agreement_reviews == 1


def test_a_review_date_today_or_later_does_not_remind(department, manager):
    agreement_for(department, manager, review_on=date(2026, 3, 10))
    assert relations.relations_reminders_sweep(now=TUESDAY_10).agreement_reviews == 0
    assert not Notification.objects.exists()


# --- Meetings and outcomes ------------------------------------------------------------------------


def test_publishing_outcomes_tells_the_department_staff_and_nobody_else(
    department, manager, requester, colleague, head, other_requester, buyer, django_capture_on_commit_callbacks
):
    # given a meeting held two days ago, with an action item
    meeting = held_meeting(department, manager)
    relations.action_item_add(
        meeting=meeting, actor=manager, title="Share the laptop catalogue", owner=buyer, due_on=date(2026, 3, 20)
    )
    NotificationPreference.objects.create(user=colleague, kind=NotificationKind.MEETING_OUTCOMES, by_email=False)

    # when the manager publishes its outcomes
    with django_capture_on_commit_callbacks() as callbacks:
        relations.meeting_outcomes_publish(
            meeting=meeting, actor=manager, summary="Laptops come from the catalogue from April.", now=TUESDAY_10
        )

    # then Sales' members and head are told in the app, by e-mail unless they said no, and nobody else
    told = notices(NotificationKind.MEETING_OUTCOMES)
    assert sorted(told.values_list("recipient__username", "channel")) == sorted(
        [("alice", "in_app"), ("alice", "email"), ("carol", "in_app"), ("hannah", "in_app"), ("hannah", "email")]
    )
    # the e-mails are enqueued once the transaction commits
    assert len(callbacks) == 1
    body = told.filter(channel=Channel.EMAIL).first().payload["body"]
    assert "Laptops come from the catalogue from April." in body
    assert "Share the laptop catalogue — " in body
    meeting.refresh_from_db()
    assert meeting.published_at == TUESDAY_10 and meeting.published_by == manager


def test_outcomes_are_published_once_need_a_summary_and_a_meeting_that_took_place(department, manager):
    meeting = held_meeting(department, manager)
    with pytest.raises(ValidationError) as error:
        relations.meeting_outcomes_publish(meeting=meeting, actor=manager, summary="  ", now=TUESDAY_10)
    assert "summary" in error.value.message_dict
    future = held_meeting(department, manager, days_ago=-7)
    with pytest.raises(ValidationError, match="not taken place"):
        relations.meeting_outcomes_publish(meeting=future, actor=manager, summary="Done", now=TUESDAY_10)
    relations.meeting_outcomes_publish(meeting=meeting, actor=manager, summary="Done", now=TUESDAY_10)
    with pytest.raises(ValidationError, match="already published"):
        relations.meeting_outcomes_publish(meeting=meeting, actor=manager, summary="Again", now=TUESDAY_10)


def test_publishing_plans_the_next_meeting_from_the_schedule(department, manager):
    # given a quarterly schedule whose first meeting took place
    relations.meeting_schedule_set(
        department=department,
        actor=manager,
        every_months=3,
        title="Quarterly service review",
        first_at=TUESDAY_10 - timedelta(days=1),
        now=TUESDAY_10 - timedelta(days=2),
    )
    (meeting,) = Meeting.objects.filter(department=department)

    # when its outcomes are published
    relations.meeting_outcomes_publish(meeting=meeting, actor=manager, summary="Fine.", now=TUESDAY_10)

    # then the next one is planned three months after it
    upcoming = Meeting.objects.filter(department=department).upcoming(TUESDAY_10).get()
    assert upcoming.starts_at == meeting.starts_at.replace(month=6)
    assert MeetingSchedule.objects.get(department=department).every_months == 3


def test_add_months_keeps_the_day_or_takes_the_month_end():
    assert relations.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert relations.add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)


# --- Action item reminders ------------------------------------------------------------------------


def overdue_item(department, manager, owner, *, due_on=date(2026, 3, 9)):
    meeting = held_meeting(department, manager, days_ago=30)
    return relations.action_item_add(
        meeting=meeting, actor=manager, title="Send the forecast", owner=owner, due_on=due_on
    )


def test_an_overdue_action_item_reminds_its_owner_once_per_due_date(department, manager, head):
    # given an action item due yesterday
    item = overdue_item(department, manager, head)

    # when the sweep runs twice
    assert relations.relations_reminders_sweep(now=TUESDAY_10).action_items == 1
    assert relations.relations_reminders_sweep(now=TUESDAY_10 + timedelta(minutes=15)).action_items == 0

    # then the owner alone was told, once per channel, with a link to the meeting
    told = notices(NotificationKind.ACTION_ITEM)
    assert sorted(told.values_list("recipient__username", "channel")) == [("hannah", "email"), ("hannah", "in_app")]
    assert told.first().url == f"/stakeholders/{department.code}/meetings/{item.meeting_id}/"

    # when the owner agrees a new date that passes too
    relations.action_item_reschedule(item=item, actor=head, due_on=date(2026, 3, 10))
    assert relations.relations_reminders_sweep(now=TUESDAY_10).action_items == 0  # due today: not overdue yet
    assert relations.relations_reminders_sweep(now=TUESDAY_10 + timedelta(days=1)).action_items == 1

    # then it reminded once more, for the new date
    assert list(
        RelationReminder.objects.filter(action_item=item).values_list("due_on", flat=True).order_by("due_on")
    ) == [
        date(2026, 3, 9),
        date(2026, 3, 10),
    ]


def test_a_closed_action_item_does_not_remind(department, manager, head):
    item = overdue_item(department, manager, head)
    relations.action_item_set_status(item=item, actor=head, status=ActionItemStatus.DONE, now=TUESDAY_10)
    assert relations.relations_reminders_sweep(now=TUESDAY_10).action_items == 0


def test_only_the_owner_or_a_manager_changes_an_action_item(department, manager, head, requester):
    item = overdue_item(department, manager, head)
    with pytest.raises(PermissionDenied):
        relations.action_item_set_status(item=item, actor=requester, status=ActionItemStatus.DONE)
    item.refresh_from_db()
    assert item.status == ActionItemStatus.OPEN


def test_outside_office_hours_the_reminder_email_waits_for_the_next_opening(department, manager, head):
    # given an overdue item, and a sweep on Tuesday at 22:00
    overdue_item(department, manager, head)
    relations.relations_reminders_sweep(now=TUESDAY_10.replace(hour=22))

    # then the in-app notice is there at once and the e-mail is held until Wednesday 08:00
    email = notices(NotificationKind.ACTION_ITEM, channel=Channel.EMAIL).get()
    assert email.status == DeliveryStatus.HELD
    assert email.not_before == datetime(2026, 3, 11, 8, 0, tzinfo=BERLIN)
    assert notices(NotificationKind.ACTION_ITEM, channel=Channel.IN_APP).get().status == DeliveryStatus.SENT


@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_remind_each_overdue_item_once(department, manager, head, require_service):
    # given 60 overdue action items
    require_service("PostgreSQL", connection.vendor == "postgresql", "row locks need PostgreSQL")
    meeting = held_meeting(department, manager, days_ago=30)
    for n in range(60):
        relations.action_item_add(
            meeting=meeting, actor=manager, title=f"Item {n}", owner=head, due_on=date(2026, 3, 2)
        )
    agreement_for(department, manager, review_on=date(2026, 3, 1))

    # when four sweeps start at the same moment, in small batches
    barrier = threading.Barrier(4)
    results, errors = [], []

    def sweep():
        try:
            barrier.wait()
            results.append(relations.relations_reminders_sweep(now=TUESDAY_10, batch_size=7))
        except Exception as error:  # reported below: a thread's exception would otherwise vanish
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    # then every item and the review were reminded exactly once, in total
    assert errors == []
    assert sum(result.action_items for result in results) == 60
    assert sum(result.agreement_reviews for result in results) == 1
    assert RelationReminder.objects.count() == 61
    assert notices(NotificationKind.ACTION_ITEM, channel=Channel.IN_APP).count() == 60
    assert notices(NotificationKind.AGREEMENT_REVIEW, channel=Channel.IN_APP).count() == 1


def test_beat_runs_the_reminder_task_and_an_idle_sweep_costs_two_queries(settings, django_assert_num_queries):
    from stakeholders import tasks

    entry = settings.CELERY_BEAT_SCHEDULE["sweep-relation-reminders"]
    assert entry["task"] == tasks.sweep_relation_reminders.name
    with django_assert_num_queries(2):
        assert tasks.sweep_relation_reminders() == {"action_items": 0, "agreement_reviews": 0}
