"""Attachments through the API (the portal's checks and rights), the dashboard's figures as JSON, and
the API and the browser agreeing on what a filed request is."""

import uuid
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from requests_app.models import Attachment, ProcurementRequest
from slas.models import SlaClock
from tests.factories import CategoryFactory, euro, file_request

PDF = b"%PDF-1.4\n% quote\n"


def _pdf(name="quote.pdf", content=PDF):
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def _fields(response):
    return {(item["field"], item["code"]) for item in response.json()["errors"]}


@pytest.mark.django_db
def test_uploads_pass_the_portals_checks_and_downloads_its_permission_check(
    token_client, requester, colleague, other_requester, buyer
):
    procurement_request = file_request(requester)
    path = f"/api/v1/requests/{procurement_request.reference}/attachments/"
    # the requester uploads two files
    uploaded = token_client(requester).post(path, {"files": [_pdf(), _pdf("spec.pdf")]}, format="multipart")
    assert uploaded.status_code == 201, uploaded.json()
    assert [item["name"] for item in uploaded.json()] == ["quote.pdf", "spec.pdf"]
    # a file whose content does not match its name is refused beside the field, and nothing is stored
    fake = token_client(requester).post(path, {"files": [_pdf("x.pdf", b"<html>")]}, format="multipart")
    assert fake.status_code == 422 and {field for field, _ in _fields(fake)} == {"files"}
    assert token_client(requester).post(path, {}, format="multipart").status_code == 422
    assert token_client(requester).post(path, {"files": "x"}, format="json").status_code == 415

    # internal files are Procurement's; a colleague cannot add files; another department cannot see it
    def internal():  # a fresh file each time: the client reads it to the end
        return {"files": [_pdf("internal.pdf")], "is_internal": "true"}

    assert token_client(requester).post(path, internal(), format="multipart").status_code == 403
    assert token_client(colleague).post(path, {"files": [_pdf()]}, format="multipart").status_code == 403
    assert token_client(other_requester).post(path, {"files": [_pdf()]}, format="multipart").status_code == 404
    hidden = token_client(buyer).post(path, internal(), format="multipart")
    assert hidden.status_code == 201 and hidden.json()[0]["is_internal"] is True
    assert Attachment.objects.count() == 3
    # downloads: the file itself, as an attachment; the internal one is a 404 for the requester
    first = token_client(requester).get(uploaded.json()[0]["download_url"])
    assert first.status_code == 200 and b"".join(first.streaming_content) == PDF
    assert first["Content-Disposition"].startswith("attachment") and first["X-Content-Type-Options"] == "nosniff"
    assert token_client(requester).get(hidden.json()[0]["download_url"]).status_code == 404
    assert token_client(buyer).get(hidden.json()[0]["download_url"]).status_code == 200
    # and the request's timeline shows them
    detail = token_client(requester).get(f"/api/v1/requests/{procurement_request.reference}/").json()
    assert {item["name"] for item in detail["attachments"]} == {"quote.pdf", "spec.pdf"}


@pytest.mark.django_db
def test_the_dashboard_json_has_the_pages_numbers_for_managers_only(client, token_client, requester, head, manager):
    for n in range(3):
        file_request(requester, title=f"Request {n}")
    client.force_login(manager)
    page = client.get(reverse("slas:dashboard"), {"period": "30"}).context["dashboard"]
    api = token_client(manager).get("/api/v1/dashboard/", {"period": "30"})
    assert api.status_code == 200
    figures = api.json()
    assert figures["backlog"]["open"] == page.backlog.open == 3
    assert figures["filed"] == page.created
    assert [week["filed"] for week in figures["weeks"]] == [week.created for week in page.weeks]
    assert {row["name"] for row in figures["breakdowns"]["department"]} == {
        row.name for row in page.breakdowns["department"]
    }
    assert figures["period"]["label"] == "last 30 days"
    bad = token_client(manager).get("/api/v1/dashboard/", {"period": "forever"})
    assert bad.status_code == 400 and {field for field, _ in _fields(bad)} == {"period"}
    assert token_client(head).get("/api/v1/dashboard/").status_code == 403
    assert token_client(requester).get("/api/v1/dashboard/").status_code == 403


@pytest.mark.django_db
def test_a_request_filed_through_the_api_is_in_the_queue_with_the_portals_sla_clocks(
    client, token_client, requester, buyer
):
    # given the same request filed through the portal and through the API at the same instant
    goods = CategoryFactory(name="Goods", approval_threshold=Decimal("5000"))
    fields = {
        "title": "Desk lamps",
        "description": "Two desk lamps.",
        "category": goods.pk,
        "priority": "high",
        "estimated_value": "80.00",
        "currency": euro().pk,
    }
    monday_morning = datetime(2026, 3, 9, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    with time_machine.travel(monday_morning, tick=False):
        client.force_login(requester)
        portal = client.post(reverse("requests_app:create"), {**fields, "submission_token": str(uuid.uuid4())})
        assert portal.status_code == 302
        api = token_client(requester).post("/api/v1/requests/", fields, format="json")
        assert api.status_code == 201
    from_portal, from_api = ProcurementRequest.objects.order_by("id")
    assert from_api.reference == api.json()["reference"]

    # then both are in the buyers' queue, with the same SLA due time
    client.force_login(buyer)
    queue = client.get(reverse("requests_app:queue", kwargs={"view": "unassigned"})).content.decode()
    assert from_portal.reference in queue and from_api.reference in queue
    assert from_api.sla_due_at == from_portal.sla_due_at is not None

    # and the same clocks: goal, policy, start and due time per metric
    def clocks(procurement_request):
        return list(
            SlaClock.objects.filter(procurement_request=procurement_request)
            .order_by("metric")
            .values_list("metric", "goal_id", "goal_seconds", "started_at", "due_at", "calendar_id")
        )

    assert clocks(from_api) == clocks(from_portal) and len(clocks(from_api)) == 2
    # and the API's own answer shows them as the request page does
    assert [clock["due_at"] is not None for clock in api.json()["clocks"]] == [True, True]
