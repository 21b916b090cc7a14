"""Read-only reference data (as the pages that show it allow) and the person's own notifications."""

from decimal import Decimal

import pytest

from requests_app import services
from stakeholders.models import Notification
from tests.factories import CategoryFactory, file_request


@pytest.mark.django_db
def test_categories_are_the_active_ones(token_client, requester):
    CategoryFactory(name="Goods", approval_threshold=Decimal("5000"))
    CategoryFactory(name="Retired", is_active=False)
    names = {row["name"] for row in token_client(requester).get("/api/v1/categories/").json()}
    assert "Goods" in names and "Retired" not in names


@pytest.mark.django_db
def test_departments_follow_the_directorys_visibility(token_client, requester, other_requester, buyer):
    own = {row["code"] for row in token_client(requester).get("/api/v1/departments/").json()}
    assert own == {"SALES"}
    everyone = {row["code"] for row in token_client(buyer).get("/api/v1/departments/").json()}
    assert {"SALES", "FIN", "PROC"} <= everyone


@pytest.mark.django_db
def test_teams_are_for_procurement_only(token_client, requester, buyer):
    assert token_client(requester).get("/api/v1/teams/").status_code == 403
    teams = token_client(buyer).get("/api/v1/teams/")
    assert teams.status_code == 200
    assert all({"id", "name", "lead", "members"} <= set(team) for team in teams.json())


@pytest.mark.django_db
def test_sla_policies_and_the_catalogue_with_its_benchmarks_are_open_to_everyone(token_client, requester):
    api = token_client(requester)
    policies = api.get("/api/v1/sla-policies/").json()
    assert policies and policies[-1]["is_default"] is True
    assert all(goal["resolution_minutes"] > 0 for policy in policies for goal in policy["goals"])
    catalogue = api.get("/api/v1/catalogue/").json()
    assert [entry["name"] for entry in catalogue] == [policy["name"] for policy in policies]
    goal = catalogue[0]["goals"][0]
    assert {"applies_to", "first_response", "resolution", "resolution_benchmark"} <= set(goal)
    assert set(goal["resolution_benchmark"]) == {"count", "met_percent", "median", "p90"}


@pytest.mark.django_db
def test_notifications_are_the_persons_own_and_can_be_marked_read(token_client, requester, buyer):
    # given the requester was told of a claim and a reply
    procurement_request = file_request(requester)
    services.procurement_request_claim(procurement_request=procurement_request, actor=buyer)
    services.comment_add(procurement_request=procurement_request, author=buyer, body="Which colour?")
    api = token_client(requester)
    listed = api.get("/api/v1/notifications/").json()["results"]
    mine = Notification.objects.in_app_for(requester)
    assert [row["id"] for row in listed] == list(mine.order_by("-created_at", "-id").values_list("pk", flat=True))
    assert all(row["reference"] == procurement_request.reference for row in listed)
    # when one is marked read
    first = listed[0]["id"]
    read = api.post(f"/api/v1/notifications/{first}/read/")
    assert read.status_code == 200 and read.json()["read_at"] is not None
    unread = api.get("/api/v1/notifications/", {"unread": "true"}).json()["results"]
    assert first not in [row["id"] for row in unread]
    # and someone else's is a 404
    assert token_client(buyer).post(f"/api/v1/notifications/{first}/read/").status_code == 404
    # and all are marked read at once
    assert api.post("/api/v1/notifications/read-all/").json() == {"marked": len(unread)}
    assert not mine.unread().exists()
    assert api.get("/api/v1/notifications/", {"unread": "maybe"}).status_code == 400
