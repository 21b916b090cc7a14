"""Requests through the API: list (the queue's filters, cursor pages, constant queries), retrieve, file
(with the portal's validation and an Idempotency-Key), reply and note, and the lifecycle actions."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from api.models import IdempotencyKey
from requests_app import services
from requests_app.models import Comment, ProcurementRequest, Status
from tests.factories import CategoryFactory, euro, file_request

REQUESTS = "/api/v1/requests/"


def _body(**overrides):
    body = {
        "title": "Laptops for new starters",
        "description": "Three laptops, standard spec.",
        "category": CategoryFactory(name="Goods", approval_threshold=Decimal("5000")).pk,
        "priority": "normal",
        "estimated_value": "1200.00",
        "currency": euro().pk,
    }
    body.update(overrides)
    return body


def _fields(response):
    return {(item["field"], item["code"]) for item in response.json()["errors"]}


# --- Filing ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_filing_a_request_answers_201_with_the_request_its_clocks_and_its_location(token_client, requester):
    api = token_client(requester)
    response = api.post(REQUESTS, _body(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    filed = ProcurementRequest.objects.get(reference=body["reference"])
    assert response["Location"] == f"{REQUESTS}{filed.reference}/"
    assert filed.requester == requester and filed.status == Status.SUBMITTED
    assert {clock["metric"] for clock in body["clocks"]} == {"First response", "Resolution"}
    assert body["timeline"][0]["kind"] == "created"
    assert body["sla"]["due_at"] is not None


@pytest.mark.django_db
def test_a_request_above_the_threshold_waits_for_approval_as_in_the_portal(token_client, requester, head):
    response = token_client(requester).post(REQUESTS, _body(estimated_value="9000"), format="json")
    assert response.status_code == 201
    assert response.json()["status"] == Status.PENDING_APPROVAL
    assert response.json()["clocks"] == []  # the clocks start at approval


@pytest.mark.django_db
def test_invalid_fields_are_named_in_a_422_and_nothing_is_filed(token_client, requester):
    api = token_client(requester)
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    inactive = CategoryFactory(name="Old stuff", is_active=False)
    cases = [
        ({"title": ""}, ("title", "blank")),
        ({"needed_by": yesterday}, ("needed_by", "invalid")),
        ({"category": inactive.pk}, ("category", "does_not_exist")),
        ({"estimated_value": "-1"}, ("estimated_value", "min_value")),
        ({"priority": "whenever"}, ("priority", "invalid_choice")),
        ({"title": {"nested": "object"}}, ("title", "invalid")),
    ]
    for overrides, expected in cases:
        response = api.post(REQUESTS, _body(**overrides), format="json")
        assert response.status_code == 422, (overrides, response.json())
        assert expected in _fields(response), (overrides, response.json())
    missing = api.post(REQUESTS, {}, format="json")
    assert missing.status_code == 422
    assert {"title", "description", "category", "estimated_value", "currency"} <= {f for f, _ in _fields(missing)}
    assert api.post(REQUESTS, ["not", "an", "object"], format="json").status_code == 422
    assert not ProcurementRequest.objects.exists()


@pytest.mark.django_db
def test_the_same_idempotency_key_twice_files_one_request_and_answers_the_same(token_client, requester):
    api = token_client(requester)
    body = _body()
    first = api.post(REQUESTS, body, format="json", HTTP_IDEMPOTENCY_KEY="order-42")
    second = api.post(REQUESTS, body, format="json", HTTP_IDEMPOTENCY_KEY="order-42")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert ProcurementRequest.objects.count() == 1
    # and a new key files a new one
    assert api.post(REQUESTS, body, format="json", HTTP_IDEMPOTENCY_KEY="order-43").status_code == 201
    assert ProcurementRequest.objects.count() == 2


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_refused_with_422(token_client, requester):
    api = token_client(requester)
    api.post(REQUESTS, _body(), format="json", HTTP_IDEMPOTENCY_KEY="order-42")
    response = api.post(REQUESTS, _body(title="Something else"), format="json", HTTP_IDEMPOTENCY_KEY="order-42")
    assert response.status_code == 422
    assert ("Idempotency-Key", "idempotency_key_reused") in _fields(response)
    assert ProcurementRequest.objects.count() == 1


@pytest.mark.django_db
def test_a_refused_body_does_not_use_up_its_key(token_client, requester):
    api = token_client(requester)
    refused = api.post(REQUESTS, _body(title=""), format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert refused.status_code == 422 and not IdempotencyKey.objects.exists()
    assert api.post(REQUESTS, _body(), format="json", HTTP_IDEMPOTENCY_KEY="k1").status_code == 201


@pytest.mark.django_db
def test_keys_are_per_person(token_client, requester, colleague):
    body = _body()
    token_client(requester).post(REQUESTS, body, format="json", HTTP_IDEMPOTENCY_KEY="same")
    other = token_client(colleague).post(REQUESTS, body, format="json", HTTP_IDEMPOTENCY_KEY="same")
    assert other.status_code == 201 and other.json()["requester"]["username"] == colleague.username
    assert ProcurementRequest.objects.count() == 2


# --- Reading ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_list_shows_only_what_the_person_may_see(token_client, requester, colleague, other_requester, buyer):
    mine = file_request(requester, title="Mine")
    secret = file_request(requester, title="Secret", is_confidential=True)
    foreign = file_request(other_requester, title="Foreign")

    def listed(user):
        return {row["reference"] for row in token_client(user).get(REQUESTS).json()["results"]}

    assert listed(requester) == {mine.reference, secret.reference}
    assert listed(colleague) == {mine.reference}
    assert listed(other_requester) == {foreign.reference}
    assert listed(buyer) == {mine.reference, secret.reference, foreign.reference}


@pytest.mark.django_db
def test_the_list_takes_the_queues_filters_and_refuses_bad_ones_with_400(token_client, requester, buyer):
    urgent = file_request(requester, title="Forklift battery", priority="urgent")
    file_request(requester, title="Pens", priority="low")
    api = token_client(buyer)
    by_priority = api.get(REQUESTS, {"priority": "urgent"}).json()["results"]
    assert [row["reference"] for row in by_priority] == [urgent.reference]
    by_text = api.get(REQUESTS, {"q": "forklift"}).json()["results"]
    assert [row["reference"] for row in by_text] == [urgent.reference]
    today = timezone.localdate().isoformat()
    assert len(api.get(REQUESTS, {"status": "open", "created_from": today, "updated_to": today}).json()["results"]) == 2
    bad = api.get(REQUESTS, {"created_from": "yesterday", "sla": "soon"})
    assert bad.status_code == 400
    assert {field for field, _ in _fields(bad)} == {"created_from", "sla"}
    assert api.get(REQUESTS, {"cursor": "garbage"}).status_code == 400
    assert api.get(REQUESTS, {"page_size": 1000}).status_code == 400


@pytest.mark.django_db
def test_a_requesters_search_does_not_reach_internal_notes(token_client, requester, buyer):
    procurement_request = file_request(requester, title="Chairs")
    services.comment_add(procurement_request=procurement_request, author=buyer, body="supplier zebra", is_internal=True)
    assert token_client(requester).get(REQUESTS, {"q": "zebra"}).json()["results"] == []


@pytest.mark.django_db
def test_pages_follow_the_sla_order_by_cursor_without_repeats(token_client, requester, buyer):
    filed = [file_request(requester, title=f"Request {n}") for n in range(7)]
    # one request paused (no due time) must come last
    services.procurement_request_claim(procurement_request=filed[0], actor=buyer)
    services.procurement_request_start(procurement_request=filed[0], actor=buyer)
    services.procurement_request_wait_for_requester(procurement_request=filed[0], actor=buyer, note="Colour?")
    api = token_client(buyer)
    seen, url = [], REQUESTS + "?page_size=3"
    while url:
        page = api.get(url).json()
        seen += [row["reference"] for row in page["results"]]
        url = page["next"]
    expected = list(ProcurementRequest.objects.queue_order().values_list("reference", flat=True))
    assert seen == expected and len(seen) == 7
    assert seen[-1] == filed[0].reference


@pytest.mark.django_db
def test_the_lists_query_count_does_not_grow_with_the_page(token_client, requester, buyer, django_assert_num_queries):
    for n in range(3):
        file_request(requester, title=f"Request {n}")
    api = token_client(buyer)
    api.get(REQUESTS)  # the token's last use is written once a minute: not part of the count
    # token, user permissions, group permissions, rows, then category, department (with head) and team
    with django_assert_num_queries(LIST_QUERIES):
        assert len(api.get(REQUESTS, {"page_size": 3}).json()["results"]) == 3
    for n in range(20):
        file_request(requester, title=f"More {n}")
    with django_assert_num_queries(LIST_QUERIES):
        assert len(api.get(REQUESTS, {"page_size": 20}).json()["results"]) == 20


LIST_QUERIES = 7


@pytest.mark.django_db
def test_the_detail_hides_internal_notes_from_the_requester(token_client, requester, buyer):
    procurement_request = file_request(requester)
    services.comment_add(procurement_request=procurement_request, author=buyer, body="Check budget", is_internal=True)
    services.comment_add(procurement_request=procurement_request, author=buyer, body="On it")
    path = f"{REQUESTS}{procurement_request.reference}/"
    seen_by_requester = [
        e["comment"]["body"] for e in token_client(requester).get(path).json()["timeline"] if e["comment"]
    ]
    seen_by_buyer = [e["comment"]["body"] for e in token_client(buyer).get(path).json()["timeline"] if e["comment"]]
    assert seen_by_requester == ["On it"]
    assert seen_by_buyer == ["Check budget", "On it"]


# --- Replies, notes and actions ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_replies_and_notes_follow_the_portals_rules(token_client, requester, colleague, buyer):
    procurement_request = file_request(requester)
    base = f"{REQUESTS}{procurement_request.reference}"
    reply = token_client(requester).post(f"{base}/replies/", {"body": "Any news?"}, format="json")
    assert reply.status_code == 201 and reply.json()["is_internal"] is False
    assert token_client(requester).post(f"{base}/notes/", {"body": "psst"}, format="json").status_code == 403
    assert token_client(colleague).post(f"{base}/replies/", {"body": "Me too"}, format="json").status_code == 403
    note = token_client(buyer).post(f"{base}/notes/", {"body": "Budget ok"}, format="json")
    assert note.status_code == 201 and note.json()["is_internal"] is True
    empty = token_client(buyer).post(f"{base}/replies/", {"body": ""}, format="json")
    assert empty.status_code == 422 and ("body", "blank") in _fields(empty)
    assert list(Comment.objects.values_list("body", "is_internal")) == [("Any news?", False), ("Budget ok", True)]


@pytest.mark.django_db
def test_actions_call_the_lifecycle_services(token_client, requester, buyer, other_buyer):
    procurement_request = file_request(requester)
    base = f"{REQUESTS}{procurement_request.reference}"
    claimed = token_client(buyer).post(f"{base}/claim/", {}, format="json")
    assert claimed.status_code == 200 and claimed.json()["status"] == Status.ASSIGNED
    assert "start" in claimed.json()["actions"]
    # someone else's claim comes too late
    late = token_client(other_buyer).post(f"{base}/claim/", {}, format="json")
    assert late.status_code == 409 and _fields(late) == {(None, "claim_conflict")}
    # an action on an older version is stale
    version = claimed.json()["version"]
    started = token_client(buyer).post(f"{base}/start/", {"version": version}, format="json")
    assert started.status_code == 200 and started.json()["status"] == Status.IN_PROGRESS
    stale = token_client(buyer).post(f"{base}/complete/", {"version": version}, format="json")
    assert stale.status_code == 409 and _fields(stale) == {(None, "stale")}
    # a PO number is required to record the order
    no_po = token_client(buyer).post(f"{base}/mark-ordered/", {}, format="json")
    assert no_po.status_code == 422 and ("po_number", "required") in _fields(no_po)
    ordered = token_client(buyer).post(f"{base}/mark-ordered/", {"po_number": "PO-1"}, format="json")
    assert ordered.status_code == 200 and ordered.json()["po_number"] == "PO-1"
    # a status the table does not allow is a conflict, not a permission matter
    again = token_client(buyer).post(f"{base}/start/", {}, format="json")
    assert again.status_code == 409 and _fields(again) == {(None, "not_allowed")}


@pytest.mark.django_db
def test_approval_is_the_heads_and_a_reason_is_needed_to_reject(token_client, requester, colleague, head):
    procurement_request = file_request(requester, estimated_value=Decimal("9000"))
    base = f"{REQUESTS}{procurement_request.reference}"
    assert token_client(colleague).post(f"{base}/approve/", {}, format="json").status_code == 403
    no_reason = token_client(head).post(f"{base}/reject/", {}, format="json")
    assert no_reason.status_code == 422 and ("note", "required") in _fields(no_reason)
    approved = token_client(head).post(f"{base}/approve/", {"note": "Fine"}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == Status.APPROVED
    procurement_request.refresh_from_db()
    assert procurement_request.status == Status.APPROVED


@pytest.mark.django_db
def test_an_unknown_submission_token_field_is_ignored(token_client, requester):
    token = uuid.uuid4()
    response = token_client(requester).post(REQUESTS, _body(submission_token=str(token)), format="json")
    assert response.status_code == 201
    assert ProcurementRequest.objects.get().submission_token != token


@pytest.mark.django_db
def test_idempotency_keys_older_than_the_window_are_forgotten_and_only_those(settings, requester):
    from api.services import idempotency_keys_expire

    settings.API_IDEMPOTENCY_HOURS = 24
    now = timezone.now()
    for hours, key in ((25, "old-1"), (30, "old-2"), (23, "fresh")):
        IdempotencyKey.objects.create(user=requester, key=key, fingerprint="f", created_at=now - timedelta(hours=hours))
    assert idempotency_keys_expire(now=now, batch_size=1) == 2
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
    assert idempotency_keys_expire(now=now) == 0
