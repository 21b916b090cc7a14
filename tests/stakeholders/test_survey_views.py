"""The survey page (the requester's only; a one-click link pre-selects the rating), the follow-up page
(its owner and managers), and where satisfaction shows: the queue, the request page, My settings, the
department page."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from requests_app import services
from requests_app.models import BuyerTeam
from stakeholders import surveys
from stakeholders.models import SatisfactionSurvey, SurveyFollowUp
from tests.factories import file_request
from tests.requests_app.test_queue_queries import QUEUE_QUERIES

# An empty "My work" page reads no SLA clocks or calendar versions for badges, and no categories,
# departments or teams for its rows.
EMPTY_QUEUE_QUERIES = QUEUE_QUERIES - 2 - 3

pytestmark = pytest.mark.django_db


@pytest.fixture
def done(requester, buyer, other_buyer):
    """A request Bob completed, in a team Betty leads."""
    procurement_request = file_request(requester)
    procurement_request = services.procurement_request_claim(procurement_request=procurement_request, actor=buyer)
    procurement_request = services.procurement_request_start(procurement_request=procurement_request, actor=buyer)
    BuyerTeam.objects.filter(pk=procurement_request.team_id).update(lead=other_buyer)
    return services.procurement_request_complete(procurement_request=procurement_request, actor=buyer)


@pytest.fixture
def survey(done):
    return SatisfactionSurvey.objects.get(procurement_request=done)


@pytest.fixture
def follow_up(survey, requester):
    surveys.survey_answer(survey=survey, actor=requester, rating=1, comment="Three weeks late")
    return SurveyFollowUp.objects.get(survey=survey)


def survey_url(procurement_request, query=""):
    return reverse("stakeholders:survey", args=[procurement_request.reference]) + query


# --- The survey page ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("viewer", "status"),
    [("anonymous", 302), ("requester", 200), ("colleague", 404), ("head", 404), ("other_requester", 404),
     ("buyer", 404), ("manager", 404)],
)  # fmt: skip
def test_only_the_requester_opens_and_answers_the_survey(request, client, done, survey, viewer, status):
    if viewer != "anonymous":
        client.force_login(request.getfixturevalue(viewer))
    assert client.get(survey_url(done)).status_code == status
    # and a denied answer changes nothing
    response = client.post(survey_url(done), {"rating": "1", "comment": "Bad"})
    assert response.status_code == (302 if viewer in ("anonymous", "requester") else 404)
    survey.refresh_from_db()
    assert survey.rating == (1 if viewer == "requester" else None)


def test_an_unknown_request_is_a_404(client, requester):
    client.force_login(requester)
    assert client.get(reverse("stakeholders:survey", args=["PR-2026-999999"])).status_code == 404


def test_the_one_click_link_preselects_its_rating(client, requester, done):
    client.force_login(requester)
    response = client.get(survey_url(done, "?rating=4"))
    assert response.status_code == 200
    assert response.context["form"].initial["rating"] == 4
    assert re.findall(r'name="rating" value="(\d)"[^>]*checked', response.content.decode()) == ["4"]


@pytest.mark.parametrize("query", ["?rating=9", "?rating=0", "?rating=abc", "?rating=", "?rating=2.5", "?rating=%00"])
def test_a_tampered_link_preselects_nothing_and_still_opens(client, requester, done, query):
    client.force_login(requester)
    response = client.get(survey_url(done, query))
    assert response.status_code == 200
    assert response.context["form"].initial["rating"] is None


@pytest.mark.parametrize("rating", ["", "0", "6", "x", "-1"])
def test_a_bad_rating_is_shown_beside_the_field_and_nothing_is_saved(client, requester, done, survey, rating):
    client.force_login(requester)
    response = client.post(survey_url(done), {"rating": rating})
    assert response.status_code == 400
    assert response.context["form"].errors["rating"] == ["Choose a rating from 1 to 5."]
    survey.refresh_from_db()
    assert survey.rating is None


def test_a_low_answer_thanks_and_says_who_follows_up(client, requester, done, other_buyer):
    client.force_login(requester)
    response = client.post(survey_url(done), {"rating": "2", "comment": "Late"}, follow=True)
    page = response.content.decode()
    assert "Thank you: your answer is saved." in page
    assert 'id="follow-up-open"' in page and other_buyer.get_full_name() in page
    assert SurveyFollowUp.objects.get().owner == other_buyer


def test_after_seven_days_the_answer_is_read_only_with_a_clear_message(client, requester, done, survey):
    surveys.survey_answer(survey=survey, actor=requester, rating=4)
    SatisfactionSurvey.objects.filter(pk=survey.pk).update(answered_at=timezone.now() - timedelta(days=8))
    client.force_login(requester)
    response = client.get(survey_url(done))
    assert 'id="survey-read-only"' in response.content.decode()
    assert "can no longer be changed" in response.content.decode()
    # and a post anyway is refused with the reason, nothing changed
    response = client.post(survey_url(done), {"rating": "1"})
    assert response.status_code == 400
    assert "can no longer change" in " ".join(response.context["form"].non_field_errors())
    survey.refresh_from_db()
    assert survey.rating == 4


# --- The follow-up page ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("viewer", "status"),
    [("anonymous", 302), ("other_buyer", 200), ("manager", 200), ("buyer", 404), ("requester", 404), ("head", 404)],
)
def test_the_follow_up_is_for_its_owner_and_managers(request, client, follow_up, viewer, status):
    url = reverse("stakeholders:follow_up", args=[follow_up.pk])
    if viewer != "anonymous":
        client.force_login(request.getfixturevalue(viewer))
    assert client.get(url).status_code == status
    response = client.post(url, {"note": "Called"})
    assert response.status_code == (302 if viewer in ("anonymous", "other_buyer", "manager") else 404)
    follow_up.refresh_from_db()
    assert (follow_up.closed_at is not None) == (viewer in ("other_buyer", "manager"))


def test_closing_needs_a_note_beside_the_field(client, follow_up, other_buyer):
    client.force_login(other_buyer)
    response = client.post(reverse("stakeholders:follow_up", args=[follow_up.pk]), {"note": "   "})
    assert response.status_code == 400
    assert response.context["form"].errors["note"] == ["Write what was done before closing the follow-up."]
    follow_up.refresh_from_db()
    assert follow_up.closed_at is None


def test_the_requester_sees_that_their_feedback_was_followed_up(client, follow_up, other_buyer, requester, done):
    surveys.follow_up_close(follow_up=follow_up, actor=other_buyer, note="Called; the supplier is replaced.")
    client.force_login(requester)
    page = client.get(survey_url(done)).content.decode()
    assert 'id="follow-up-done"' in page and "Called; the supplier is replaced." in page
    page = client.get(reverse("requests_app:detail", args=[done.reference])).content.decode()
    assert 'id="survey-follow-up"' in page and "Followed up by" in page


# --- Where it shows -------------------------------------------------------------------------------


def test_the_lead_sees_open_follow_ups_on_the_queue_for_one_query_more(
    client, follow_up, other_buyer, django_assert_num_queries
):
    client.force_login(other_buyer)
    with django_assert_num_queries(EMPTY_QUEUE_QUERIES + 1):  # + the follow-ups (their count rides on the counts')
        response = client.get(reverse("requests_app:queue", kwargs={"view": "mine"}))
    page = response.content.decode()
    assert 'id="follow-ups"' in page and reverse("stakeholders:follow_up", args=[follow_up.pk]) in page
    # once closed it leaves the queue
    surveys.follow_up_close(follow_up=follow_up, actor=other_buyer, note="Done")
    response = client.get(reverse("requests_app:queue", kwargs={"view": "mine"}))
    assert 'id="follow-ups"' not in response.content.decode()


def test_a_buyer_without_follow_ups_pays_no_query_for_them(client, buyer, follow_up, django_assert_num_queries):
    client.force_login(buyer)
    with django_assert_num_queries(EMPTY_QUEUE_QUERIES):
        response = client.get(reverse("requests_app:queue", kwargs={"view": "mine"}))
    assert 'id="follow-ups"' not in response.content.decode()


@pytest.mark.parametrize(("viewer", "shown"), [("requester", True), ("buyer", True), ("colleague", False)])
def test_the_request_page_shows_its_answer_to_the_requester_and_procurement(
    request, client, follow_up, done, viewer, shown
):
    client.force_login(request.getfixturevalue(viewer))
    page = client.get(reverse("requests_app:detail", args=[done.reference])).content.decode()
    assert ('id="satisfaction"' in page) == shown
    if shown:
        assert "1 / 5" in page and "Three weeks late" in page


def test_my_settings_show_a_buyers_own_csat(client, buyer, requester, follow_up):
    client.force_login(buyer)
    response = client.get(reverse("stakeholders:settings"))
    csat = response.context["csat"]
    assert (csat.sent, csat.answered, csat.average) == (1, 1, 1.0)
    assert 'id="my-csat"' in response.content.decode()
    client.force_login(requester)
    assert 'id="my-csat"' not in client.get(reverse("stakeholders:settings")).content.decode()


def test_the_department_page_shows_its_csat(client, manager, follow_up, department):
    client.force_login(manager)
    response = client.get(reverse("stakeholders:department", args=[department.code]))
    assert response.context["csat"].answered == 1
    assert 'id="satisfaction"' in response.content.decode() and "100 % response rate" in response.content.decode()


def test_surveys_and_follow_ups_are_read_in_the_admin(client, admin_user, follow_up):
    client.force_login(admin_user)
    for model in ("satisfactionsurvey", "surveyfollowup", "relationreminder"):
        assert client.get(reverse(f"admin:stakeholders_{model}_changelist")).status_code == 200
    assert client.get(reverse("admin:stakeholders_surveyfollowup_change", args=[follow_up.pk])).status_code == 200
    assert client.get(reverse("admin:stakeholders_satisfactionsurvey_add")).status_code == 403


def test_the_manager_dashboard_shows_the_periods_satisfaction(client, manager, requester, survey):
    client.force_login(manager)
    tile = re.compile(r'id="tile-csat">(.*?)</div>', re.S)
    before = tile.search(client.get(reverse("slas:dashboard")).content.decode()).group(1)
    assert "none answered yet" in before
    surveys.survey_answer(survey=survey, actor=requester, rating=4)
    page = client.get(reverse("slas:dashboard")).content.decode()
    assert "4.0" in tile.search(page).group(1) and "1 of 1 answered (100 %)" in page
    # a period before the survey was sent has none
    earlier = client.get(reverse("slas:dashboard"), {"period": "custom", "start": "2025-01-06", "end": "2025-01-12"})
    assert "No surveys in this period" in earlier.content.decode()


def test_the_department_scorecard_shows_its_satisfaction(client, head, requester, survey):
    surveys.survey_answer(survey=survey, actor=requester, rating=2)
    client.force_login(head)
    page = client.get(reverse("stakeholders:scorecard", args=[survey.department.code])).content.decode()
    assert "2.0" in re.search(r'id="tile-csat">(.*?)</div>', page, re.S).group(1)
    assert "1 of 1 answered (100 %)" in page
