"""The buyer queue's pages: which requests each view holds, in what order, filtered, searched, counted,
paged, saved and exported, and who may open it."""

import csv
import html
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from requests_app import services
from requests_app.models import ProcurementRequest, SavedQueueView, Status
from requests_app.queue import QUEUE_VIEWS, csv_safe
from tests.factories import CategoryFactory, file_request, usd

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def queue_url(view):
    return reverse("requests_app:queue", kwargs={"view": view})


def shown(response):
    """The references on the page, in order."""
    return [row.procurement_request.reference for row in response.context["rows"]]


def summary(procurement_request, **fields):
    """Set the request's stored SLA summary (what the SLA services keep current) to `fields`."""
    ProcurementRequest.objects.filter(pk=procurement_request.pk).update(**fields)
    procurement_request.refresh_from_db()
    return procurement_request


def claimed(procurement_request, buyer, *, then=()):
    """Claim the request for the buyer, then run the named buyer services on it."""
    procurement_request = services.procurement_request_claim(procurement_request=procurement_request, actor=buyer)
    for verb, arguments in then:
        procurement_request = getattr(services, f"procurement_request_{verb}")(
            procurement_request=procurement_request, actor=buyer, **arguments
        )
    return procurement_request


# --- Order --------------------------------------------------------------------------------------------


def test_the_queue_is_in_sla_due_order_whatever_the_department_with_no_due_time_last(
    client, requester, other_requester, head, buyer
):
    # given unassigned requests from Sales (two people) and Finance, filed in this order, whose due
    # times interleave across departments, two of them with no due time
    people = [requester, other_requester, head, other_requester, requester, head, other_requester]
    due_in_hours = [5, 1, None, 3, 2, None, 4]
    filed = [
        summary(file_request(person, title=f"R{number}"), sla_due_at=NOW + timedelta(hours=hours) if hours else None)
        for number, (person, hours) in enumerate(zip(people, due_in_hours, strict=True))
    ]
    client.force_login(buyer)
    # when the buyer opens the unassigned view
    response = client.get(queue_url("unassigned"))
    # then the earliest due comes first, whoever filed it; the ones without a due time last, oldest first
    by_title = {pr.title: pr.reference for pr in filed}
    assert shown(response) == [by_title[title] for title in ["R1", "R4", "R3", "R6", "R0", "R2", "R5"]]


def test_requests_due_at_the_same_instant_keep_their_filing_order(client, requester, other_requester, buyer):
    # given three requests due at the same moment, from two departments
    filed = [summary(file_request(person), sla_due_at=NOW) for person in (other_requester, requester, other_requester)]
    client.force_login(buyer)
    # when the queue is opened, then the tie is broken by id, never by department or requester
    assert shown(client.get(queue_url("unassigned"))) == [pr.reference for pr in filed]


# --- Views --------------------------------------------------------------------------------------------


@pytest.fixture
def every_kind(requester, other_requester, buyer, other_buyer, manager):
    """One request in each situation the views tell apart (Finance has no head: the manager approves)."""
    return {
        "new": file_request(requester, title="new"),
        "approval": file_request(requester, title="approval", estimated_value=Decimal("9000")),
        "approved": services.procurement_request_approve(
            procurement_request=file_request(other_requester, title="approved", estimated_value=Decimal("9000")),
            actor=manager,
        ),
        "mine": claimed(file_request(requester, title="mine"), buyer, then=[("start", {})]),
        "hers_at_risk": summary(claimed(file_request(requester, title="hers_at_risk"), other_buyer), sla_threshold=75),
        "mine_breached": summary(
            claimed(file_request(other_requester, title="mine_breached"), buyer),
            sla_threshold=100,
            sla_breached=True,
        ),
        "asked": claimed(
            file_request(requester, title="asked"),
            other_buyer,
            then=[("start", {}), ("wait_for_requester", {"note": "Which size?"})],
        ),
        "supplier": claimed(
            file_request(requester, title="supplier"), buyer, then=[("start", {}), ("wait_for_supplier", {})]
        ),
        "done": claimed(file_request(requester, title="done"), buyer, then=[("start", {}), ("complete", {})]),
        "cancelled": services.procurement_request_cancel(
            procurement_request=file_request(requester, title="cancelled"), actor=requester, note="Not needed."
        ),
        "confidential": file_request(requester, title="confidential", is_confidential=True),
    }


VIEW_CONTENTS = {
    "mine": {"mine", "mine_breached", "supplier"},
    "team": set(),  # bob is in no team here; see test_my_team_holds_the_open_requests_of_my_teams
    "unassigned": {"new", "approved", "confidential"},
    "at_risk": {"hers_at_risk"},
    "breached": {"mine_breached"},
    "waiting": {"asked", "supplier"},
    "all": {
        "new",
        "approval",
        "approved",
        "mine",
        "hers_at_risk",
        "mine_breached",
        "asked",
        "supplier",
        "done",
        "cancelled",
        "confidential",
    },
}


@pytest.mark.parametrize("view", list(VIEW_CONTENTS))
def test_each_view_holds_exactly_its_requests(client, every_kind, buyer, manager, view):
    # given a request in every situation; the buyer is bob (the manager opens "All")
    client.force_login(manager if view == "all" else buyer)
    # when the view is opened
    response = client.get(queue_url(view))
    # then it lists exactly the requests that belong to it
    titles = {row.procurement_request.title for row in response.context["rows"]}
    assert titles == VIEW_CONTENTS[view]


def test_the_views_are_declared_once_with_labels_and_who_may_open_them(buyer, manager):
    # the registry is the one place views are declared; "All" is for managers only
    assert [view.label for view in QUEUE_VIEWS.values()] == [
        "My work",
        "My team",
        "Unassigned",
        "At risk",
        "Breached",
        "Waiting",
        "All requests",
    ]
    assert [name for name, view in QUEUE_VIEWS.items() if view.may_open(buyer)] == [
        "mine",
        "team",
        "unassigned",
        "at_risk",
        "breached",
        "waiting",
    ]
    assert all(view.may_open(manager) for view in QUEUE_VIEWS.values())


def test_the_sidebar_counts_each_view_in_one_aggregate_query(client, every_kind, buyer, django_assert_num_queries):
    # given a request in every situation
    client.force_login(buyer)
    # when the buyer asks for the counts
    with django_assert_num_queries(1):
        counts = ProcurementRequest.objects.queue_counts(buyer)
    # then each open view is counted (the "All" view, which includes closed requests, is not)
    assert counts == {
        name: len(VIEW_CONTENTS[name]) for name in ["mine", "team", "unassigned", "at_risk", "breached", "waiting"]
    }
    # and the page shows them beside the views
    response = client.get(queue_url("mine"))
    assert {name: count for name, _, count in response.context["views"]} == {
        name: str(count) for name, count in counts.items()
    }


def test_a_count_stops_at_the_cap_and_says_so(client, requester, buyer, monkeypatch):
    # given four unassigned requests and a cap of two (999 in earnest)
    monkeypatch.setattr("requests_app.queue.QUEUE_COUNT_CAP", 2)
    for _ in range(4):
        file_request(requester)
    # when the counts are read, the count stops one past the cap
    assert ProcurementRequest.objects.queue_counts(buyer)["unassigned"] == 3
    # and the sidebar says "2+", while the page itself shows the rows (without a total)
    client.force_login(buyer)
    response = client.get(queue_url("unassigned"))
    assert {name: count for name, _, count in response.context["views"]}["unassigned"] == "2+"
    assert len(shown(response)) == 4
    assert response.context["page"].total is None


def test_the_manager_sees_all_requests_and_can_filter_them_by_any_status(client, every_kind, manager):
    client.force_login(manager)
    # when the manager filters "All" by a closed status
    response = client.get(queue_url("all"), {"status": Status.CANCELLED})
    # then only the cancelled request is listed
    assert shown(response) == [every_kind["cancelled"].reference]
    # and the open views offer only open statuses
    open_view = client.get(queue_url("unassigned"))
    assert Status.CANCELLED not in dict(open_view.context["filters"].fields["status"].choices)


# --- Filters ------------------------------------------------------------------------------------------


@pytest.fixture
def varied(requester, other_requester, buyer, other_buyer):
    """Requests that differ in one respect each, all open and unassigned unless said."""
    services_category = CategoryFactory(name="Services", approval_threshold=None)
    old = file_request(requester, title="old")
    ProcurementRequest.objects.filter(pk=old.pk).update(created_at=NOW - timedelta(days=40))
    return {
        "cheap": file_request(requester, title="cheap", estimated_value=Decimal("50")),
        "dear": file_request(requester, title="dear", estimated_value=Decimal("4000")),
        "dollars": file_request(requester, title="dollars", estimated_value=Decimal("1000"), currency=usd()),
        "finance": file_request(other_requester, title="finance"),
        "services": file_request(requester, title="services", category=services_category),
        "urgent": file_request(requester, title="urgent", priority="urgent"),
        "bobs": claimed(file_request(requester, title="bobs"), buyer),
        "bettys": claimed(file_request(requester, title="bettys"), other_buyer),
        "old": old,
    }


FILTER_CASES = {
    "status=assigned": ({"status": "assigned"}, {"bobs", "bettys"}),
    "assignee=none": ({"assignee": "none"}, {"cheap", "dear", "dollars", "finance", "services", "urgent", "old"}),
    "priority=urgent": ({"priority": "urgent"}, {"urgent"}),
    "value_min=1000": ({"value_min": "1000"}, {"dear", "bobs", "bettys", "finance", "services", "urgent", "old"}),
    "value_max=100": ({"value_max": "100"}, {"cheap"}),
    # 1,000 USD is 920 EUR: the range is in the base currency
    "value 900-950 EUR": ({"value_min": "900", "value_max": "950"}, {"dollars"}),
    "created_to=31 days ago": ({"created_to": (NOW - timedelta(days=31)).date().isoformat()}, {"old"}),
    "created_from=today": (
        {"created_from": timezone.localdate().isoformat()},
        {"cheap", "dear", "dollars", "finance", "services", "urgent", "bobs", "bettys"},
    ),
}


@pytest.mark.parametrize("case", list(FILTER_CASES))
def test_each_filter_narrows_the_queue(client, varied, manager, case):
    # given requests that differ in one respect each
    query, expected = FILTER_CASES[case]
    client.force_login(manager)
    # when the "All" view is filtered
    response = client.get(queue_url("all"), query)
    # then exactly the matching requests are listed
    assert {row.procurement_request.title for row in response.context["rows"]} == expected


def test_the_buyer_department_and_category_filters_take_ids(client, varied, manager, buyer, other_department):
    client.force_login(manager)
    by_buyer = client.get(queue_url("all"), {"assignee": buyer.pk})
    by_department = client.get(queue_url("all"), {"department": other_department.pk})
    by_category = client.get(queue_url("all"), {"category": varied["services"].category_id})
    assert shown(by_buyer) == [varied["bobs"].reference]
    assert shown(by_department) == [varied["finance"].reference]
    assert shown(by_category) == [varied["services"].reference]


def test_the_sla_filter_tells_running_at_risk_breached_and_paused_apart(client, requester, buyer, manager):
    # given four open requests in each SLA state (as the SLA services store it)
    running = file_request(requester, title="running")
    at_risk = summary(file_request(requester, title="at risk"), sla_threshold=50)
    breached = summary(file_request(requester, title="breached"), sla_threshold=100, sla_breached=True)
    paused = claimed(
        file_request(requester, title="paused"), buyer, then=[("wait_for_requester", {"note": "Which colour?"})]
    )
    assert paused.sla_due_at is None
    client.force_login(manager)
    # when the queue is filtered by each state, then each finds its own
    for state, expected in [("running", running), ("at_risk", at_risk), ("breached", breached), ("paused", paused)]:
        assert shown(client.get(queue_url("all"), {"sla": state})) == [expected.reference], state


def test_an_invalid_filter_is_shown_and_left_out_while_the_others_apply(client, varied, manager):
    client.force_login(manager)
    response = client.get(queue_url("all"), {"priority": "urgent", "value_min": "lots", "department": "99999"})
    assert shown(response) == [varied["urgent"].reference]
    assert set(response.context["filters"].errors) == {"value_min", "department"}


def _input_attributes(content, input_id):
    """The attributes of the page's <input id=input_id>, unescaped."""
    tag = re.search(rf'<input[^>]*\bid="{input_id}"[^>]*>', content).group(0)
    return {name: html.unescape(value) for name, value in re.findall(r'([\w-]+)="([^"]*)"', tag)}


def test_an_invalid_filter_keeps_what_was_typed_with_its_error_beside_it(client, varied, manager):
    client.force_login(manager)
    response = client.get(queue_url("all"), {"value_min": "lots<b>", "created_from": "2026-01-02"})
    content = response.content.decode()
    assert "lots<b>" not in content  # escaped
    field = _input_attributes(content, "id_value_min")
    # what was typed stays in the field, marked invalid and pointing at its message beside it
    assert (field["type"], field["value"], field["aria-invalid"]) == ("number", "lots<b>", "true")
    error = re.search(rf'<div[^>]*id="{field["aria-describedby"]}">(.*?)</div></div>', content).group(1)
    assert "Enter a number." in error
    # a valid date input keeps its value and is not marked
    date_field = _input_attributes(content, "id_created_from")
    assert (date_field["type"], date_field["value"]) == ("date", "2026-01-02")
    assert "aria-invalid" not in date_field


def test_a_value_range_upside_down_is_refused(client, varied, manager):
    client.force_login(manager)
    response = client.get(queue_url("all"), {"value_min": "500", "value_max": "100"})
    assert "value_max" in response.context["filters"].errors
    assert len(shown(response)) == len(varied) - 1  # the lower bound alone applies: "cheap" is out


# --- Search -------------------------------------------------------------------------------------------


@pytest.fixture
def searchable(requester, buyer):
    laptops = file_request(requester, title="Laptops for new starters", description="Three, standard spec.")
    chairs = file_request(requester, title="Office chairs", description="Ergonomic, with tungsten bearings.")
    paper = file_request(requester, title="Printer paper", description="Ten boxes.")
    services.comment_add(procurement_request=paper, author=requester, body="Recycled paper please, marigold tint.")
    services.comment_add(procurement_request=chairs, author=buyer, body="Quoted by Okamura.", is_internal=True)
    return {"laptops": laptops, "chairs": chairs, "paper": paper}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("laptops", {"laptops"}),  # title
        ("tungsten", {"chairs"}),  # description
        ("marigold", {"paper"}),  # a reply
        ("okamura", {"chairs"}),  # an internal note: the queue is Procurement's
        ("office tungsten", {"chairs"}),  # every word, in any field
        ("office marigold", set()),
        ("zeppelin", set()),
    ],
)
def test_the_search_matches_reference_title_description_and_comments(client, searchable, buyer, text, expected):
    # (runs on SQLite with icontains and on PostgreSQL with full-text search)
    client.force_login(buyer)
    response = client.get(queue_url("unassigned"), {"q": text})
    assert {key for key, pr in searchable.items() if pr.reference in shown(response)} == expected


def test_the_search_finds_a_reference_by_a_fragment(client, searchable, buyer):
    client.force_login(buyer)
    reference = searchable["paper"].reference  # PR-YYYY-000003
    for text in (reference, reference[-6:], reference.lower()):
        assert shown(client.get(queue_url("unassigned"), {"q": text})) == [reference], text


@pytest.mark.parametrize("sort_max", [2_000, 2], ids=["few-matches-sorted", "many-matches-by-index"])
def test_the_search_keeps_the_queue_order(client, requester, buyer, monkeypatch, sort_max):
    # (few matches are found first and sorted, many are read down the due-order index: the same order)
    monkeypatch.setattr("requests_app.models.SEARCH_SORT_MAX", sort_max)
    # given three toner requests, due in the reverse of their filing order, one with no due time
    toners = [
        summary(
            file_request(requester, title=f"Toner {colour}"),
            sla_due_at=NOW + timedelta(hours=hours) if hours else None,
        )
        for colour, hours in (("black", None), ("cyan", 3), ("magenta", 2), ("yellow", 1))
    ]
    file_request(requester, title="Staples")
    client.force_login(buyer)
    # when the buyer searches for toner, then the matches are in due order, the one without last
    expected = [pr.reference for pr in [*reversed(toners[1:]), toners[0]]]
    assert shown(client.get(queue_url("unassigned"), {"q": "toner"})) == expected


def test_a_search_pages_through_its_matches_in_queue_order_and_knows_their_total(client, requester, buyer):
    # given thirty toner requests due one minute apart, filed in the reverse order, and a stapler
    toners = [
        summary(file_request(requester, title=f"Toner {n}"), sla_due_at=NOW + timedelta(minutes=30 - n))
        for n in range(30)
    ]
    file_request(requester, title="Stapler")
    in_due_order = [pr.reference for pr in reversed(toners)]
    client.force_login(buyer)
    # when the buyer searches for toner, then page 1 holds the 25 most urgent, "of 30"
    first = client.get(queue_url("unassigned"), {"q": "toner"})
    assert shown(first) == in_due_order[:25]
    assert first.context["page"].total == 30 and first.context["page"].has_next
    assert "1–25 of 30" in first.content.decode()
    # and page 2 the last five; a page past the end shows the last one
    for page in ("2", "99"):
        second = client.get(queue_url("unassigned"), {"q": "toner", "page": page})
        assert shown(second) == in_due_order[25:] and second.context["page"].number == 2
        assert not second.context["page"].has_next


def test_the_open_search_index_covers_exactly_the_open_statuses():
    # The partial index's predicate is frozen in its migration; a status added to OPEN_STATUSES without
    # a new index would silently leave those requests' searches on the whole-table index.
    from importlib import import_module

    from requests_app.models import OPEN_STATUSES

    migration = import_module("requests_app.migrations.0017_open_search_filters_index")
    assert set(migration.OPEN_STATUSES) == set(OPEN_STATUSES)


def test_a_search_of_punctuation_only_or_sql_is_harmless(client, searchable, buyer):
    client.force_login(buyer)
    for text in ("!!! & | :*", "'; DROP TABLE x; --", "%", "_"):
        response = client.get(queue_url("unassigned"), {"q": text})
        assert response.status_code == 200, text


# --- Pagination ---------------------------------------------------------------------------------------


@pytest.fixture
def thirty(requester):
    return [summary(file_request(requester), sla_due_at=NOW + timedelta(minutes=n)) for n in range(30)]


@pytest.mark.parametrize(
    ("page", "per_page", "number", "rows"),
    [
        (None, None, 1, 25),
        ("2", None, 2, 5),
        ("abc", None, 1, 25),
        ("-3", None, 1, 25),
        ("0", None, 1, 25),
        ("3", None, 2, 5),  # past the end: the last page
        ("999999999999999999999999", None, 2, 5),
        ("1", "50", 1, 30),
        ("2", "7", 2, 5),  # a size not offered: the default
        ("1", "x", 1, 25),
    ],
)
def test_page_numbers_are_clamped_and_never_fail(client, thirty, buyer, page, per_page, number, rows):
    client.force_login(buyer)
    query = {key: value for key, value in {"page": page, "per_page": per_page}.items() if value is not None}
    response = client.get(queue_url("unassigned"), query)
    assert response.status_code == 200
    assert (response.context["page"].number, len(response.context["rows"])) == (number, rows)


def test_the_pages_follow_one_another_in_queue_order(client, thirty, buyer):
    client.force_login(buyer)
    first = client.get(queue_url("unassigned"))
    second = client.get(queue_url("unassigned"), {"page": 2})
    assert shown(first) + shown(second) == [pr.reference for pr in thirty]
    assert first.context["page"].has_next and not second.context["page"].has_next
    assert first.context["page"].total == 30  # unfiltered: the sidebar's count, no extra count query
    assert "Page 1 of 2" in first.content.decode()


def test_a_filtered_page_past_the_end_shows_the_last_page(client, thirty, buyer):
    client.force_login(buyer)
    response = client.get(queue_url("unassigned"), {"q": thirty[0].reference[:7], "page": 9})
    assert response.context["page"].number == 2
    assert len(response.context["rows"]) == 5


# --- Saved views --------------------------------------------------------------------------------------


def test_a_buyer_saves_the_current_filters_and_finds_them_in_the_sidebar(client, buyer, other_buyer):
    client.force_login(buyer)
    # when bob saves the unassigned view filtered to urgent requests (with a page number and junk)
    response = client.post(
        reverse("requests_app:queue_save"),
        {"name": "Urgent new", "view": "unassigned", "query": "priority=urgent&page=3&evil=1&q="},
    )
    # then it is saved with the filters only, and he is taken to it
    saved = SavedQueueView.objects.get()
    assert (saved.user, saved.name, saved.view, saved.query) == (buyer, "Urgent new", "unassigned", "priority=urgent")
    assert response.url == queue_url("unassigned") + "?priority=urgent"
    # and it is in his sidebar, not in betty's
    assert "Urgent new" in client.get(queue_url("mine")).content.decode()
    client.force_login(other_buyer)
    assert list(client.get(queue_url("mine")).context["saved_views"]) == []


def test_saving_under_an_existing_name_replaces_it(client, buyer):
    client.force_login(buyer)
    for query in ("priority=high", "priority=low"):
        client.post(reverse("requests_app:queue_save"), {"name": "Mine", "view": "mine", "query": query})
    assert list(SavedQueueView.objects.values_list("name", "query")) == [("Mine", "priority=low")]


def test_a_saved_view_needs_a_name_and_a_view_the_user_may_open(client, buyer):
    client.force_login(buyer)
    nameless = client.post(reverse("requests_app:queue_save"), {"name": " ", "view": "mine", "query": ""})
    forbidden = client.post(reverse("requests_app:queue_save"), {"name": "All", "view": "all", "query": ""})
    unknown = client.post(reverse("requests_app:queue_save"), {"name": "X", "view": "nope", "query": ""})
    assert (nameless.status_code, forbidden.status_code, unknown.status_code) == (302, 403, 404)
    assert not SavedQueueView.objects.exists()


def test_a_user_deletes_their_own_saved_view_but_not_someone_elses(client, buyer, other_buyer):
    mine = services.saved_queue_view_save(user=buyer, name="Mine", view="mine", query="")
    hers = services.saved_queue_view_save(user=other_buyer, name="Hers", view="mine", query="")
    client.force_login(buyer)
    # someone else's is a 404, like a missing one, and stays
    refused = client.post(reverse("requests_app:queue_saved_delete", args=[hers.pk]))
    assert refused.status_code == 404
    assert SavedQueueView.objects.filter(pk=hers.pk).exists()
    # their own is deleted
    deleted = client.post(reverse("requests_app:queue_saved_delete", args=[mine.pk]), {"next": queue_url("waiting")})
    assert deleted.status_code == 302 and deleted.url == queue_url("waiting")
    assert not SavedQueueView.objects.filter(pk=mine.pk).exists()


# --- CSV export ---------------------------------------------------------------------------------------


def _csv(response):
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="queue-')
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


def test_the_export_has_a_header_and_every_matching_row_in_queue_order(client, thirty, buyer):
    client.force_login(buyer)
    rows = _csv(client.get(reverse("requests_app:queue_export", kwargs={"view": "unassigned"})))
    assert rows[0][:4] == ["Reference", "Title", "Status", "Priority"]
    assert [row[0] for row in rows[1:]] == [pr.reference for pr in thirty]  # all 30, not one page
    assert rows[1][2:4] == ["Submitted", "Normal"]


def test_the_export_applies_the_filters(client, varied, manager):
    client.force_login(manager)
    rows = _csv(client.get(reverse("requests_app:queue_export", kwargs={"view": "all"}), {"value_max": "100"}))
    assert [row[1] for row in rows[1:]] == ["cheap"]


def test_the_export_defuses_cells_a_spreadsheet_would_run(client, requester, buyer):
    for title in ('=HYPERLINK("http://evil")', "+1+1", "-2", "@SUM(A1)", "\tTab", "Plain"):
        file_request(requester, title=title)
    client.force_login(buyer)
    rows = _csv(client.get(reverse("requests_app:queue_export", kwargs={"view": "unassigned"})))
    assert sorted(row[1] for row in rows[1:]) == sorted(
        ['\'=HYPERLINK("http://evil")', "'+1+1", "'-2", "'@SUM(A1)", "'\tTab", "Plain"]
    )


def test_csv_safe_prefixes_only_formula_starts():
    assert [csv_safe(value) for value in ("=1", "+1", "-1", "@a", "a=1", "", None, 12)] == [
        "'=1",
        "'+1",
        "'-1",
        "'@a",
        "a=1",
        "",
        "",
        "12",
    ]


# --- Access -------------------------------------------------------------------------------------------

ROLES = ["anon", "requester", "head", "buyer", "manager"]
# What each role gets from each queue page: 200, 403, 404 or "login".
QUEUE_ACCESS = {
    "mine": ["login", "403", "403", "200", "200"],
    "unassigned": ["login", "403", "403", "200", "200"],
    "at_risk": ["login", "403", "403", "200", "200"],
    "breached": ["login", "403", "403", "200", "200"],
    "waiting": ["login", "403", "403", "200", "200"],
    "all": ["login", "403", "403", "403", "200"],
    "nonexistent": ["login", "403", "403", "404", "404"],
    "export:unassigned": ["login", "403", "403", "200", "200"],
    "export:all": ["login", "403", "403", "403", "200"],
    "actions": ["login", "403", "403", "200", "200"],
}


@pytest.fixture
def cast(requester, head, buyer, manager):
    return {"anon": None, "requester": requester, "head": head, "buyer": buyer, "manager": manager}


def _path(page, reference):
    if page == "actions":
        return reverse("requests_app:queue_actions", args=[reference])
    if page.startswith("export:"):
        return reverse("requests_app:queue_export", kwargs={"view": page.removeprefix("export:")})
    return queue_url(page)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", list(QUEUE_ACCESS))
def test_only_procurement_opens_the_queue_and_only_managers_the_all_view(client, cast, page, role):
    # given a confidential request of the requester's department (the head may see it on its page)
    procurement_request = file_request(cast["requester"], is_confidential=True)
    if cast[role] is not None:
        client.force_login(cast[role])
    # when the page is opened
    response = client.get(_path(page, procurement_request.reference))
    # then the answer is the table's
    expected = QUEUE_ACCESS[page][ROLES.index(role)]
    if expected == "login":
        assert response.status_code == 302 and response.url.startswith(reverse("login"))
    else:
        assert response.status_code == int(expected)
    # and Procurement sees the confidential request in the queue like any other
    if expected == "200" and page in ("unassigned", "all"):
        assert shown(response) == [procurement_request.reference]


@pytest.mark.parametrize("role", ["anon", "requester", "head"])
def test_no_one_outside_procurement_can_act_through_the_queue(client, cast, role):
    # given an unassigned request and a saved view of the buyer's
    procurement_request = file_request(cast["requester"])
    saved = services.saved_queue_view_save(user=cast["buyer"], name="Mine", view="mine", query="")
    if cast[role] is not None:
        client.force_login(cast[role])
    # when they post a bulk change, save a view, or delete the buyer's
    bulk = client.post(
        reverse("requests_app:queue_bulk"),
        {"rows": [f"{procurement_request.reference}:1"], "action": "cancel", "note": "No."},
    )
    save = client.post(reverse("requests_app:queue_save"), {"name": "x", "view": "mine", "query": ""})
    delete = client.post(reverse("requests_app:queue_saved_delete", args=[saved.pk]))
    # then all are refused and nothing changed
    expected = [302, 302, 302] if role == "anon" else [403, 403, 404]
    assert [bulk.status_code, save.status_code, delete.status_code] == expected
    procurement_request.refresh_from_db()
    assert procurement_request.status == Status.SUBMITTED
    assert list(SavedQueueView.objects.all()) == [saved]


def test_home_sends_buyers_to_their_work_and_managers_to_the_unassigned(client, buyer, manager):
    client.force_login(buyer)
    assert client.get(reverse("home")).url == queue_url("mine")
    client.force_login(manager)
    assert client.get(reverse("home")).url == queue_url("unassigned")


def test_the_navigation_links_the_queue_for_procurement_only(client, requester, buyer):
    client.force_login(buyer)
    assert reverse("requests_app:queue_home") in client.get(reverse("requests_app:mine")).content.decode()
    client.force_login(requester)
    assert reverse("requests_app:queue_home") not in client.get(reverse("requests_app:mine")).content.decode()


# --- Teams ---------------------------------------------------------------------------------------------


def test_my_team_holds_the_open_requests_of_my_teams_with_their_team_and_absent_buyers_flagged(
    client, requester, buyer, other_buyer
):
    # given two teams: bob and betty in Direct materials, nobody of theirs in Indirect
    from datetime import date

    from requests_app.models import BuyerTeam, RoutingRule
    from slas.models import BusinessCalendar
    from stakeholders.models import Profile

    calendar = BusinessCalendar.objects.first()
    direct = services.buyer_team_upsert(name="Direct materials", calendar=calendar, members=[buyer, other_buyer])
    indirect = services.buyer_team_upsert(name="Indirect", calendar=calendar)
    RoutingRule.objects.filter(is_default=True).update(team=direct)
    ours = file_request(requester, title="ours")
    betty_has_it = claimed(file_request(requester, title="betty has it"), other_buyer)
    done = claimed(file_request(requester, title="done"), buyer, then=[("start", {}), ("complete", {})])
    RoutingRule.objects.filter(is_default=True).update(team=indirect)
    theirs = file_request(requester, title="theirs")
    assert {ours.team, betty_has_it.team, done.team, theirs.team} == {direct, indirect}
    Profile.objects.update_or_create(user=other_buyer, defaults={"away_until": date(2099, 1, 1)})
    client.force_login(buyer)

    # when bob opens My team
    response = client.get(queue_url("team"))

    # then he sees his team's open requests, not the other team's nor finished ones, with betty flagged away
    assert {row.procurement_request.title for row in response.context["rows"]} == {"ours", "betty has it"}
    page = response.content.decode()
    assert "Direct materials" in page and "away" in page
    assert BuyerTeam.objects.count() >= 2


def test_the_team_filter_narrows_any_view_to_one_team(client, requester, buyer, manager):
    from requests_app.models import RoutingRule
    from slas.models import BusinessCalendar

    calendar = BusinessCalendar.objects.first()
    alpha = services.buyer_team_upsert(name="Alpha", calendar=calendar)
    beta = services.buyer_team_upsert(name="Beta", calendar=calendar)
    RoutingRule.objects.filter(is_default=True).update(team=alpha)
    file_request(requester, title="alpha one")
    RoutingRule.objects.filter(is_default=True).update(team=beta)
    file_request(requester, title="beta one")
    client.force_login(manager)

    response = client.get(queue_url("unassigned"), {"team": beta.pk})

    assert [row.procurement_request.title for row in response.context["rows"]] == ["beta one"]
