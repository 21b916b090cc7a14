"""Request satisfaction: the survey a completed request sends, one answer per request changeable for 7
days, a low score's follow-up with its own due time (the closed loop), the reminders, and the CSAT
figures."""

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, connections, transaction

from requests_app import services
from requests_app.models import BuyerTeam
from requests_app.routing import routing_defaults_ensure
from slas.demo import sla_defaults_ensure
from stakeholders import satisfaction, surveys
from stakeholders.models import (
    Channel,
    DeliveryStatus,
    Notification,
    NotificationKind,
    RelationReminder,
    SatisfactionSurvey,
    SurveyFollowUp,
)
from stakeholders.roles import Role
from tests.factories import file_request, person

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
# A Tuesday morning in office hours (the desk calendar: Mon–Fri 08:00–12:00, 13:00–17:00 Berlin).
TUESDAY_10 = datetime(2026, 3, 10, 10, 0, tzinfo=BERLIN)


def completed(requester, buyer, **fields):
    procurement_request = file_request(requester, **fields)
    procurement_request = services.procurement_request_claim(procurement_request=procurement_request, actor=buyer)
    procurement_request = services.procurement_request_start(procurement_request=procurement_request, actor=buyer)
    return services.procurement_request_complete(procurement_request=procurement_request, actor=buyer)


def survey_of(procurement_request):
    return SatisfactionSurvey.objects.get(procurement_request=procurement_request)


def notices(kind, **filters):
    return Notification.objects.filter(kind=kind, **filters)


# --- The survey -----------------------------------------------------------------------------------


def test_completing_a_request_sends_its_requester_a_survey_in_the_app_and_by_email_on_commit(
    requester, buyer, django_capture_on_commit_callbacks
):
    # when the buyer completes a request
    with django_capture_on_commit_callbacks() as callbacks:
        procurement_request = completed(requester, buyer)

    # then a survey exists, attributed to the buyer and the department
    survey = survey_of(procurement_request)
    assert (survey.requester, survey.buyer, survey.department_id) == (
        requester,
        buyer,
        requester.membership.department_id,
    )
    assert survey.rating is None
    # and the requester alone is told, in the app and by e-mail (enqueued once the transaction commits)
    told = notices(NotificationKind.SURVEY)
    assert sorted(told.values_list("recipient__username", "channel")) == [("alice", "email"), ("alice", "in_app")]
    assert len(callbacks) == 1
    email = told.get(channel=Channel.EMAIL)
    assert email.status == DeliveryStatus.PENDING
    # with one link per rating that opens the page with that rating chosen
    path = f"/surveys/{procurement_request.reference}/"
    assert email.url == path
    for rating in range(1, 6):
        assert f"{path}?rating={rating}" in email.payload["body"]


def test_a_request_reopened_and_completed_again_keeps_its_first_survey(requester, buyer):
    # given a completed request whose survey was answered
    procurement_request = completed(requester, buyer)
    surveys.survey_answer(survey=survey_of(procurement_request), actor=requester, rating=4)
    # when it is reopened and completed again
    procurement_request = services.procurement_request_reopen(
        procurement_request=procurement_request, actor=requester, note="One is missing"
    )
    services.procurement_request_complete(procurement_request=procurement_request, actor=buyer)
    # then it still has one survey, the answer kept, and the requester was asked once
    assert SatisfactionSurvey.objects.filter(procurement_request=procurement_request).count() == 1
    assert survey_of(procurement_request).rating == 4
    assert notices(NotificationKind.SURVEY, channel=Channel.IN_APP).count() == 1


def test_one_survey_per_request_is_a_database_constraint(requester, buyer):
    procurement_request = completed(requester, buyer)
    with pytest.raises(IntegrityError), transaction.atomic():
        SatisfactionSurvey.objects.create(
            procurement_request=procurement_request, requester=requester, department=procurement_request.department
        )


def test_the_requester_answers_and_may_change_the_answer_for_seven_days(requester, buyer):
    survey = survey_of(completed(requester, buyer))
    # when the requester answers, then changes the answer on the seventh day
    surveys.survey_answer(survey=survey, actor=requester, rating=3, comment=" Slow ", now=TUESDAY_10)
    surveys.survey_answer(survey=survey, actor=requester, rating=5, now=TUESDAY_10 + timedelta(days=7))
    survey.refresh_from_db()
    # then the latest answer counts, and the seven days still run from the first one
    assert (survey.rating, survey.comment, survey.answered_at) == (5, "", TUESDAY_10)
    assert survey.changed_at == TUESDAY_10 + timedelta(days=7)
    # and a moment later it is read-only
    with pytest.raises(ValidationError, match="can no longer change"):
        surveys.survey_answer(survey=survey, actor=requester, rating=1, now=TUESDAY_10 + timedelta(days=7, seconds=1))
    survey.refresh_from_db()
    assert survey.rating == 5


@pytest.mark.parametrize("rating", [0, 6, "", "five", None, "3.5"])
def test_a_rating_outside_1_to_5_is_refused_beside_the_field(requester, buyer, rating):
    survey = survey_of(completed(requester, buyer))
    with pytest.raises(ValidationError) as error:
        surveys.survey_answer(survey=survey, actor=requester, rating=rating)
    assert error.value.message_dict == {"rating": ["Choose a rating from 1 to 5."]}
    survey.refresh_from_db()
    assert survey.rating is None


@pytest.mark.parametrize("actor", ["colleague", "head", "buyer", "manager"])
def test_nobody_but_the_requester_answers(request, requester, buyer, actor):
    survey = survey_of(completed(requester, buyer))
    with pytest.raises(PermissionDenied):
        surveys.survey_answer(survey=survey, actor=request.getfixturevalue(actor), rating=1)
    survey.refresh_from_db()
    assert survey.rating is None and not SurveyFollowUp.objects.exists()


# --- The closed loop ------------------------------------------------------------------------------


def test_a_low_score_opens_a_follow_up_for_the_team_lead_due_in_two_business_days(requester, buyer, other_buyer):
    # given a request of a team led by Betty
    procurement_request = completed(requester, buyer)
    BuyerTeam.objects.filter(pk=procurement_request.team_id).update(lead=other_buyer)
    survey = survey_of(procurement_request)
    # when the requester rates it 2 on a Tuesday at 10:00
    surveys.survey_answer(survey=survey, actor=requester, rating=2, comment="Nobody told me", now=TUESDAY_10)
    # then Betty has a follow-up due Thursday 10:00 (two 8-hour business days on the team's calendar)
    follow_up = SurveyFollowUp.objects.get(survey=survey)
    assert follow_up.owner == other_buyer
    assert follow_up.due_at == datetime(2026, 3, 12, 10, 0, tzinfo=BERLIN)
    # and she is told, with a link to it
    told = notices(NotificationKind.SURVEY_FOLLOW_UP)
    assert sorted(told.values_list("recipient__username", "channel")) == [("betty", "email"), ("betty", "in_app")]
    assert told.first().url == f"/follow-ups/{follow_up.pk}/"
    assert "Nobody told me" in told.first().payload["body"]


def test_without_a_team_lead_a_procurement_manager_follows_up(requester, buyer, manager):
    survey = survey_of(completed(requester, buyer))
    assert survey.procurement_request.team.lead_id is None
    surveys.survey_answer(survey=survey, actor=requester, rating=1, now=TUESDAY_10)
    assert SurveyFollowUp.objects.get(survey=survey).owner == manager


def test_a_good_score_opens_no_follow_up_and_a_changed_answer_opens_at_most_one(requester, buyer, manager):
    survey = survey_of(completed(requester, buyer))
    surveys.survey_answer(survey=survey, actor=requester, rating=3, now=TUESDAY_10)
    assert not SurveyFollowUp.objects.exists()
    surveys.survey_answer(survey=survey, actor=requester, rating=2, now=TUESDAY_10)
    surveys.survey_answer(survey=survey, actor=requester, rating=1, now=TUESDAY_10)
    surveys.survey_answer(survey=survey, actor=requester, rating=5, now=TUESDAY_10)
    # a better answer leaves the follow-up open: someone should still talk to the requester
    assert SurveyFollowUp.objects.open().count() == 1


def test_the_follow_up_threshold_is_a_setting(requester, buyer, manager, settings):
    settings.SURVEY_FOLLOW_UP_AT = 3
    survey = survey_of(completed(requester, buyer))
    surveys.survey_answer(survey=survey, actor=requester, rating=3, now=TUESDAY_10)
    assert SurveyFollowUp.objects.filter(survey=survey).exists()


def test_the_follow_up_is_closed_with_a_note_and_the_requester_is_told(requester, buyer, manager):
    survey = survey_of(completed(requester, buyer))
    surveys.survey_answer(survey=survey, actor=requester, rating=1, now=TUESDAY_10)
    follow_up = SurveyFollowUp.objects.get(survey=survey)
    # a note is required
    with pytest.raises(ValidationError) as error:
        surveys.follow_up_close(follow_up=follow_up, actor=manager, note="  ")
    assert "note" in error.value.message_dict
    # nobody but its owner or a manager closes it
    with pytest.raises(PermissionDenied):
        surveys.follow_up_close(follow_up=follow_up, actor=buyer, note="Called")
    # when the manager closes it with a note
    surveys.follow_up_close(follow_up=follow_up, actor=manager, note="Called Alice; new supplier from May.")
    follow_up.refresh_from_db()
    assert follow_up.closed_by == manager and follow_up.note == "Called Alice; new supplier from May."
    # then the requester is told, and it cannot be closed twice
    told = notices(NotificationKind.SURVEY, recipient=requester, payload__headline="Your feedback was followed up")
    assert told.filter(channel=Channel.IN_APP).exists()
    with pytest.raises(ValidationError, match="already closed"):
        surveys.follow_up_close(follow_up=follow_up, actor=manager, note="Again")


def test_a_closed_follow_up_needs_a_note_in_the_database_too(requester, buyer, manager):
    survey = survey_of(completed(requester, buyer))
    surveys.survey_answer(survey=survey, actor=requester, rating=1, now=TUESDAY_10)
    with pytest.raises(IntegrityError), transaction.atomic():
        SurveyFollowUp.objects.filter(survey=survey).update(closed_at=TUESDAY_10, note="")


# --- Reminders ------------------------------------------------------------------------------------


def test_an_unanswered_survey_reminds_its_requester_once(requester, buyer):
    procurement_request = completed(requester, buyer)
    SatisfactionSurvey.objects.filter(procurement_request=procurement_request).update(sent_at=TUESDAY_10)
    # not before three days
    assert surveys.survey_reminders_sweep(now=TUESDAY_10 + timedelta(days=2, hours=23)).surveys == 0
    # then once, however often the sweep runs
    assert surveys.survey_reminders_sweep(now=TUESDAY_10 + timedelta(days=3)).surveys == 1
    assert surveys.survey_reminders_sweep(now=TUESDAY_10 + timedelta(days=4)).surveys == 0
    reminders = notices(NotificationKind.SURVEY, payload__headline__startswith="A reminder")
    assert sorted(reminders.values_list("recipient__username", "channel")) == [("alice", "email"), ("alice", "in_app")]
    assert RelationReminder.objects.filter(survey__procurement_request=procurement_request).count() == 1


def test_an_answered_or_reopened_survey_does_not_remind(requester, buyer):
    answered = completed(requester, buyer)
    surveys.survey_answer(survey=survey_of(answered), actor=requester, rating=4)
    reopened = completed(requester, buyer)
    services.procurement_request_reopen(procurement_request=reopened, actor=requester, note="Missing one")
    SatisfactionSurvey.objects.update(sent_at=TUESDAY_10)
    assert surveys.survey_reminders_sweep(now=TUESDAY_10 + timedelta(days=5)).surveys == 0


def test_an_overdue_follow_up_reminds_its_owner_once_and_an_idle_sweep_costs_two_queries(
    requester, buyer, manager, django_assert_num_queries
):
    survey = survey_of(completed(requester, buyer))
    surveys.survey_answer(survey=survey, actor=requester, rating=1, now=TUESDAY_10)
    due = SurveyFollowUp.objects.get(survey=survey).due_at
    assert surveys.survey_reminders_sweep(now=due - timedelta(seconds=1)).follow_ups == 0
    assert surveys.survey_reminders_sweep(now=due).follow_ups == 1
    with django_assert_num_queries(2):
        assert surveys.survey_reminders_sweep(now=due + timedelta(hours=1)).follow_ups == 0
    reminders = notices(NotificationKind.SURVEY_FOLLOW_UP, payload__headline__startswith="Follow-up overdue")
    assert sorted(reminders.values_list("recipient__username", "channel")) == [("maria", "email"), ("maria", "in_app")]
    # a closed follow-up never reminds
    follow_up = SurveyFollowUp.objects.get(survey=survey)
    surveys.follow_up_close(follow_up=follow_up, actor=manager, note="Done")
    RelationReminder.objects.all().delete()
    assert surveys.survey_reminders_sweep(now=due + timedelta(days=1)).follow_ups == 0


@pytest.mark.django_db(transaction=True)
def test_four_sweeps_at_once_remind_an_unanswered_survey_once(requester, buyer, require_service):
    require_service("PostgreSQL", connection.vendor == "postgresql", "row locks need PostgreSQL")
    sla_defaults_ensure()  # the SLA set-up completion needs; an earlier transactional test flushed it
    routing_defaults_ensure()  # and routing's default rule
    procurement_request = completed(requester, buyer)
    SatisfactionSurvey.objects.filter(procurement_request=procurement_request).update(sent_at=TUESDAY_10)
    barrier, results = threading.Barrier(4), []

    def sweep():
        try:
            barrier.wait()
            results.append(surveys.survey_reminders_sweep(now=TUESDAY_10 + timedelta(days=3)).surveys)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 0, 0, 1]
    assert RelationReminder.objects.count() == 1
    assert notices(NotificationKind.SURVEY, channel=Channel.IN_APP).count() == 2  # the survey and one reminder


# --- CSAT figures ---------------------------------------------------------------------------------


def test_csat_figures_are_one_aggregate_query(
    requester, colleague, buyer, other_buyer, manager, django_assert_num_queries
):
    # given five completed requests: Bob's rated 5, 4 and 1, one unanswered; Betty's rated 2
    bobs = [completed(requester, buyer) for _ in range(4)]
    bettys = completed(colleague, other_buyer)
    for procurement_request, rating in zip(bobs, (5, 4, 1), strict=False):
        surveys.survey_answer(survey=survey_of(procurement_request), actor=requester, rating=rating)
    surveys.survey_answer(survey=survey_of(bettys), actor=colleague, rating=2)
    # when Bob's figures are read
    with django_assert_num_queries(1):
        figures = satisfaction.csat_figures(satisfaction.for_buyer(buyer))
    # then
    assert (figures.sent, figures.answered, figures.average) == (4, 3, 3.33)
    assert figures.response_rate == 0.75 and figures.response_percent == 75
    assert figures.distribution == {1: 1, 2: 0, 3: 0, 4: 1, 5: 1}
    # and the department's count both buyers
    department = satisfaction.csat_figures(satisfaction.for_department(requester.membership.department))
    assert (department.sent, department.answered, department.distribution[2]) == (5, 4, 1)


def test_csat_figures_without_surveys_say_so():
    figures = satisfaction.csat_figures(SatisfactionSurvey.objects.none())
    assert (figures.sent, figures.average, figures.response_rate) == (0, None, None)


def test_a_buyer_without_completed_requests_has_no_figures(db, procurement_department):
    nobody = person(Role.BUYER, procurement_department, username="newbie")
    assert satisfaction.csat_figures(satisfaction.for_buyer(nobody)).sent == 0
