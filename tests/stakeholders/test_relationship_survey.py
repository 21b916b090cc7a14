"""The periodic relationship survey: a schedule per department opens a round once per period and tells
the department's staff and nobody else; each staff member answers once per round (changeable while it
is open); the department page shows the trend per question."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from stakeholders import satisfaction, surveys
from stakeholders.models import (
    Channel,
    Notification,
    NotificationKind,
    RelationshipAnswer,
    RelationshipSurvey,
    RelationshipSurveySchedule,
)

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY_10 = datetime(2026, 3, 10, 10, 0, tzinfo=BERLIN)
ALL_FOUR = {"responsive": 4, "understands": 3, "informs": 2, "adds_value": 5}


@pytest.fixture
def scheduled(department, manager):
    return surveys.relationship_survey_schedule_set(
        department=department, actor=manager, every_months=6, next_on=date(2026, 3, 10)
    )


@pytest.fixture
def open_round(scheduled, requester, colleague, head):
    surveys.relationship_surveys_open(now=TUESDAY_10)
    return RelationshipSurvey.objects.get()


def test_a_due_round_opens_once_and_tells_the_department_staff_only(
    scheduled, requester, colleague, head, other_requester, buyer
):
    # not before its day
    assert surveys.relationship_surveys_open(now=TUESDAY_10 - timedelta(days=1)) == 0
    # then once, however often the job runs
    assert surveys.relationship_surveys_open(now=TUESDAY_10) == 1
    assert surveys.relationship_surveys_open(now=TUESDAY_10 + timedelta(hours=1)) == 0
    survey = RelationshipSurvey.objects.get()
    assert (survey.opened_on, survey.closes_on) == (date(2026, 3, 10), date(2026, 3, 31))
    # the next round is six months later
    scheduled.refresh_from_db()
    assert scheduled.next_on == date(2026, 9, 10)
    told = Notification.objects.filter(kind=NotificationKind.RELATIONSHIP_SURVEY, channel=Channel.IN_APP)
    assert sorted(told.values_list("recipient__username", flat=True)) == ["alice", "carol", "hannah"]
    assert told.first().url == f"/stakeholders/SALES/relationship-survey/{survey.pk}/"


def test_only_managers_schedule_and_only_known_intervals(department, manager, head):
    with pytest.raises(PermissionDenied):
        surveys.relationship_survey_schedule_set(department=department, actor=head, every_months=6, next_on=None)
    with pytest.raises(ValidationError):
        surveys.relationship_survey_schedule_set(
            department=department, actor=manager, every_months=5, next_on=date(2026, 3, 1)
        )
    assert not RelationshipSurveySchedule.objects.exists()


def test_staff_answer_once_per_round_and_may_change_while_it_is_open(open_round, requester):
    surveys.relationship_survey_answer(survey=open_round, actor=requester, answers=ALL_FOUR, now=TUESDAY_10)
    surveys.relationship_survey_answer(
        survey=open_round, actor=requester, answers={**ALL_FOUR, "informs": 4}, comment="Better", now=TUESDAY_10
    )
    answer = RelationshipAnswer.objects.get()
    assert (answer.informs, answer.comment) == (4, "Better")
    with pytest.raises(ValidationError, match="closed"):
        surveys.relationship_survey_answer(
            survey=open_round, actor=requester, answers=ALL_FOUR, now=TUESDAY_10 + timedelta(days=22)
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        RelationshipAnswer.objects.create(survey=open_round, respondent=requester, **ALL_FOUR)


def test_others_cannot_answer_and_bad_ratings_are_named(open_round, requester, other_requester, buyer):
    for outsider in (other_requester, buyer):
        with pytest.raises(PermissionDenied):
            surveys.relationship_survey_answer(survey=open_round, actor=outsider, answers=ALL_FOUR, now=TUESDAY_10)
    with pytest.raises(ValidationError) as error:
        surveys.relationship_survey_answer(
            survey=open_round, actor=requester, answers={**ALL_FOUR, "informs": 9, "adds_value": "x"}, now=TUESDAY_10
        )
    assert set(error.value.message_dict) == {"informs", "adds_value"}
    assert not RelationshipAnswer.objects.exists()


def test_the_trend_averages_each_question_per_round_in_one_query(
    open_round, requester, colleague, head, django_assert_num_queries
):
    surveys.relationship_survey_answer(survey=open_round, actor=requester, answers=ALL_FOUR, now=TUESDAY_10)
    surveys.relationship_survey_answer(
        survey=open_round, actor=colleague, answers=dict.fromkeys(ALL_FOUR, 2), now=TUESDAY_10
    )
    later = surveys.relationship_surveys_open(now=datetime(2026, 9, 10, 10, 0, tzinfo=BERLIN))
    assert later == 1
    with django_assert_num_queries(1):
        trend = satisfaction.relationship_trend(open_round.department)
    assert [round_.answers for round_ in trend] == [2, 0]
    assert [average for _, average in trend[0].averages] == [3.0, 2.5, 2.0, 3.5]
    assert trend[0].overall == 2.75 and trend[1].overall is None


@pytest.mark.parametrize(
    ("viewer", "status"),
    [("anonymous", 302), ("requester", 200), ("head", 200), ("other_requester", 404), ("buyer", 404),
     ("manager", 404)],
)  # fmt: skip
def test_the_answer_page_is_for_the_department_staff(request, client, open_round, viewer, status):
    RelationshipSurvey.objects.update(closes_on=date(2099, 1, 1))  # still open whenever the test runs
    url = reverse("stakeholders:relationship_survey", args=["SALES", open_round.pk])
    if viewer != "anonymous":
        client.force_login(request.getfixturevalue(viewer))
    assert client.get(url).status_code == status
    response = client.post(url, {**ALL_FOUR, "comment": ""})
    assert response.status_code == (302 if status != 404 else 404)
    assert RelationshipAnswer.objects.exists() == (viewer in ("requester", "head"))


def test_a_missing_answer_is_shown_beside_its_question(client, open_round, requester):
    RelationshipSurvey.objects.update(closes_on=date(2099, 1, 1))  # still open whenever the test runs
    client.force_login(requester)
    url = reverse("stakeholders:relationship_survey", args=["SALES", open_round.pk])
    response = client.post(url, {"responsive": "4", "understands": "7"})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"understands", "informs", "adds_value"}
    assert response.content.decode().count("Choose from 1 to 5.") == 3  # beside each of the three questions
    assert not RelationshipAnswer.objects.exists()


def test_the_department_page_shows_the_trend_and_invites_its_staff(client, open_round, requester, manager):
    surveys.relationship_survey_answer(survey=open_round, actor=requester, answers=ALL_FOUR, now=TUESDAY_10)
    RelationshipSurvey.objects.update(closes_on=date(2099, 1, 1))  # still open whenever the test runs
    client.force_login(requester)
    page = client.get(reverse("stakeholders:department", args=["SALES"])).content.decode()
    assert 'id="relationship-trend"' in page and 'id="relationship-open"' in page
    client.force_login(manager)
    page = client.get(reverse("stakeholders:department", args=["SALES"])).content.decode()
    assert 'id="relationship-trend"' in page and 'id="relationship-open"' not in page


def test_a_manager_sets_the_schedule_on_its_page(client, department, manager):
    client.force_login(manager)
    url = reverse("stakeholders:relationship_schedule", args=["SALES"])
    assert client.get(url).status_code == 200
    response = client.post(url, {"every_months": "12", "next_on": "2026-06-01"})
    assert response.status_code == 302
    schedule = RelationshipSurveySchedule.objects.get(department=department)
    assert (schedule.every_months, schedule.next_on) == (12, date(2026, 6, 1))
    assert client.post(url, {"every_months": "5", "next_on": "2026-06-01"}).status_code == 400
