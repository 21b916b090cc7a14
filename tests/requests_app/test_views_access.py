"""Who may open and change what, over every portal view: the access matrix, written out as tables.

Roles (the columns):
    anon       not logged in
    owner      the requester who filed the department's requests (alice, Sales)
    colleague  another requester of the same department (carol, Sales)
    other      a requester of another department (oscar, Finance), owner of the "foreign" request
    head       the head of Sales (hannah)
    buyer      a buyer in Procurement (bob); the assignee wherever the request has one
    manager    the procurement manager (maria)

Requests (the rows): "normal" and "confidential" are filed by owner in Sales, "foreign" by other
in Finance (which has no head, so a procurement manager approves for it).

Cells: a status code, "login" (redirect to the login page), "->name" (redirect to that page;
"->queue/view" for a queue view), or "ok" (a write that happened: redirect back to the request page
and the data changed).
"""

import uuid
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from requests_app import services
from requests_app.models import Attachment, Comment, ProcurementRequest, RequestEvent, Status
from stakeholders.services import person_upsert
from tests.factories import CategoryFactory, euro, file_request

ROLES = ["anon", "owner", "colleague", "other", "head", "buyer", "manager"]
MISSING_REFERENCE = "PR-2099-999999"


def _table(text):
    """Parse a whitespace-aligned table: {(first cells...): {role: cell}} keyed by the leading columns."""
    lines = [line.split() for line in text.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    keys = len(header) - len(ROLES)
    assert header[keys:] == ROLES, header
    return {tuple(row[:keys]): dict(zip(ROLES, row[keys:], strict=True)) for row in rows}


# --- Reads --------------------------------------------------------------------------------------

PAGE_READS = _table(
    """
    view         anon   owner   colleague  other   head         buyer         manager
    home         login  ->mine  ->mine     ->mine  ->approvals  ->queue/mine  ->queue/unassigned
    create       login  200     200        200     200          200     200
    mine         login  200     200        200     200          200     200
    department   login  200     200        200     200          200     200
    approvals    login  200     200        200     200          200     200
    all          login  403     403        403     403          200     200
    """
)

ROW_READS = _table(
    """
    view          row           anon   owner  colleague  other  head  buyer  manager
    detail        normal        login  200    200        404    200   200    200
    detail        confidential  login  200    404        404    200   200    200
    detail        foreign       login  404    404        200    404   200    200
    confirmation  normal        login  200    200        404    200   200    200
    confirmation  confidential  login  200    404        404    200   200    200
    confirmation  foreign       login  404    404        200    404   200    200
    attachment    normal        login  200    200        404    200   200    200
    attachment    confidential  login  200    404        404    200   200    200
    attachment    foreign       login  404    404        200    404   200    200
    """
)

# Which requests each list shows (n = normal, c = confidential, f = foreign, - = none), all three
# waiting for approval; "login" and "403" as above. Finance has no head, so its request is in the
# manager's approvals.
LIST_CONTENTS = _table(
    """
    view         anon   owner  colleague  other  head  buyer  manager
    mine         login  nc     -          f      -     -      -
    department   login  nc     n          f      nc    -      -
    approvals    login  -      -          -      nc    -      f
    all          login  403    403        403    403   ncf    ncf
    """
)

# --- Writes -------------------------------------------------------------------------------------
# Each action is tried on a request in a status where the status table allows it, so that only
# the person decides; the comment is a plain reply.

WRITES = {
    "normal": _table(
        """
        action              anon   owner  colleague  other  head  buyer  manager
        comment             login  ok     403        404    ok    ok     ok
        approve             login  403    403        404    ok    403    403
        reject              login  403    403        404    ok    403    403
        claim               login  403    403        404    403   ok     ok
        assign              login  403    403        404    403   403    ok
        reroute             login  403    403        404    403   403    ok
        start               login  403    403        404    403   ok     ok
        wait_for_requester  login  403    403        404    403   ok     ok
        wait_for_supplier   login  403    403        404    403   ok     ok
        resume              login  403    403        404    403   ok     ok
        mark_ordered        login  403    403        404    403   ok     ok
        complete            login  403    403        404    403   ok     ok
        reprioritise        login  403    403        404    403   ok     ok
        close               login  ok     403        404    403   ok     ok
        cancel              login  ok     403        404    ok    403    ok
        reopen              login  ok     403        404    403   ok     ok
        """
    ),
    "confidential": _table(
        """
        action              anon   owner  colleague  other  head  buyer  manager
        comment             login  ok     404        404    ok    ok     ok
        approve             login  403    404        404    ok    403    403
        reject              login  403    404        404    ok    403    403
        claim               login  403    404        404    403   ok     ok
        assign              login  403    404        404    403   403    ok
        reroute             login  403    404        404    403   403    ok
        start               login  403    404        404    403   ok     ok
        wait_for_requester  login  403    404        404    403   ok     ok
        wait_for_supplier   login  403    404        404    403   ok     ok
        resume              login  403    404        404    403   ok     ok
        mark_ordered        login  403    404        404    403   ok     ok
        complete            login  403    404        404    403   ok     ok
        reprioritise        login  403    404        404    403   ok     ok
        close               login  ok     404        404    403   ok     ok
        cancel              login  ok     404        404    ok    403    ok
        reopen              login  ok     404        404    403   ok     ok
        """
    ),
    # Finance has no head: the procurement manager stands in for approvals.
    "foreign": _table(
        """
        action              anon   owner  colleague  other  head  buyer  manager
        comment             login  404    404        ok     404   ok     ok
        approve             login  404    404        403    404   403    ok
        reject              login  404    404        403    404   403    ok
        claim               login  404    404        403    404   ok     ok
        assign              login  404    404        403    404   403    ok
        reroute             login  404    404        403    404   403    ok
        start               login  404    404        403    404   ok     ok
        wait_for_requester  login  404    404        403    404   ok     ok
        wait_for_supplier   login  404    404        403    404   ok     ok
        resume              login  404    404        403    404   ok     ok
        mark_ordered        login  404    404        403    404   ok     ok
        complete            login  404    404        403    404   ok     ok
        reprioritise        login  404    404        403    404   ok     ok
        close               login  404    404        ok     404   ok     ok
        cancel              login  404    404        ok     404   403    ok
        reopen              login  404    404        ok     404   ok     ok
        """
    ),
}

# action -> (the status it is tried from, the form it posts, the status it leads to)
ACTION_CASES = {
    "approve": (Status.PENDING_APPROVAL, {"note": ""}, Status.APPROVED),
    "reject": (Status.PENDING_APPROVAL, {"note": "Over budget."}, Status.REJECTED),
    "claim": (Status.SUBMITTED, {}, Status.ASSIGNED),
    "assign": (Status.SUBMITTED, {"assignee": "BUYER"}, Status.ASSIGNED),
    "reroute": (Status.SUBMITTED, {"note": "Filed under the wrong category."}, Status.SUBMITTED),
    "start": (Status.ASSIGNED, {}, Status.IN_PROGRESS),
    "wait_for_requester": (Status.IN_PROGRESS, {"note": "Which colour?"}, Status.WAITING_FOR_REQUESTER),
    "wait_for_supplier": (Status.IN_PROGRESS, {}, Status.WAITING_FOR_SUPPLIER),
    "resume": (Status.WAITING_FOR_SUPPLIER, {}, Status.IN_PROGRESS),
    "mark_ordered": (Status.IN_PROGRESS, {"po_number": "PO-4500000001"}, Status.ORDERED),
    "complete": (Status.IN_PROGRESS, {}, Status.COMPLETED),
    "reprioritise": (Status.IN_PROGRESS, {"priority": "urgent", "note": "The line is down."}, Status.IN_PROGRESS),
    "close": (Status.COMPLETED, {}, Status.CLOSED),
    "cancel": (Status.SUBMITTED, {"note": "No longer needed."}, Status.CANCELLED),
    "reopen": (Status.COMPLETED, {"note": "One laptop is missing."}, Status.IN_PROGRESS),
}


# --- Fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture
def cast(requester, colleague, other_requester, head, buyer, manager):
    return {
        "anon": None,
        "owner": requester,
        "colleague": colleague,
        "other": other_requester,
        "head": head,
        "buyer": buyer,
        "manager": manager,
    }


def _pdf(name="quote.pdf"):
    return SimpleUploadedFile(name, b"%PDF-1.4\n% quote\n", content_type="application/pdf")


def _file(owner, *, status=Status.SUBMITTED, buyer=None, **overrides):
    """A request of `owner` brought through the real services into `status`."""
    value = Decimal("6000") if status == Status.PENDING_APPROVAL else Decimal("1200")
    overrides.setdefault("category", CategoryFactory(name="Goods", approval_threshold=Decimal("5000")))
    procurement_request = file_request(owner, estimated_value=value, **overrides)
    assert procurement_request.status == (
        Status.PENDING_APPROVAL if status == Status.PENDING_APPROVAL else Status.SUBMITTED
    )
    if status in {Status.SUBMITTED, Status.PENDING_APPROVAL}:
        return procurement_request
    steps = [(services.procurement_request_claim, {})]
    if status != Status.ASSIGNED:
        steps.append((services.procurement_request_start, {}))
    if status == Status.WAITING_FOR_SUPPLIER:
        steps.append((services.procurement_request_wait_for_supplier, {}))
    if status == Status.COMPLETED:
        steps.append((services.procurement_request_complete, {}))
    for service, arguments in steps:
        procurement_request = service(procurement_request=procurement_request, actor=buyer, **arguments)
    assert procurement_request.status == status
    return procurement_request


def _rows(cast, *, status=Status.SUBMITTED, with_attachments=False):
    files = (lambda: [_pdf()]) if with_attachments else list
    return {
        "normal": _file(cast["owner"], status=status, buyer=cast["buyer"], files=files()),
        "confidential": _file(cast["owner"], status=status, buyer=cast["buyer"], is_confidential=True, files=files()),
        "foreign": _file(cast["other"], status=status, buyer=cast["buyer"], files=files()),
    }


def _client_for(client, user):
    if user is not None:
        client.force_login(user)
    return client


def _snapshot(procurement_request):
    """Everything a write could change on a request."""
    row = ProcurementRequest.objects.get(pk=procurement_request.pk)
    return {
        "status": row.status,
        "priority": row.priority,
        "category": row.category_id,
        "assignee": row.assignee_id,
        "po_number": row.po_number,
        "events": RequestEvent.objects.filter(procurement_request=row).count(),
        "comments": Comment.objects.filter(procurement_request=row).count(),
        "attachments": Attachment.objects.filter(procurement_request=row).count(),
    }


def _assert_outcome(response, expected, *, path):
    if expected == "login":
        assert response.status_code == 302
        assert response.url.startswith(reverse("login")), response.url
    elif expected.startswith("->queue/"):
        assert response.status_code == 302
        assert response.url == reverse("requests_app:queue", kwargs={"view": expected.removeprefix("->queue/")})
    elif expected.startswith("->"):
        assert response.status_code == 302
        assert response.url == reverse(f"requests_app:{expected[2:]}")
    else:
        assert response.status_code == int(expected), f"{path}: {response.status_code}, expected {expected}"


# --- Read tests ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("view", [key[0] for key in PAGE_READS])
def test_pages_answer_each_role_as_the_table_says(client, cast, view, role):
    # given the three requests exist and the user is logged in (or not)
    _rows(cast)
    client = _client_for(client, cast[role])
    path = reverse("home") if view == "home" else reverse(f"requests_app:{view}")
    # when the page is opened
    response = client.get(path)
    # then the answer is the one in the table
    _assert_outcome(response, PAGE_READS[(view,)][role], path=path)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("view", "row"), list(ROW_READS))
def test_request_pages_answer_each_role_as_the_table_says(client, cast, view, row, role):
    # given the three requests, each with one attachment
    rows = _rows(cast, with_attachments=True)
    procurement_request = rows[row]
    attachment = procurement_request.attachments.get()
    client = _client_for(client, cast[role])

    def path_for(reference):
        if view == "attachment":
            return reverse("requests_app:attachment", args=[reference, attachment.pk])
        return reverse(f"requests_app:{view}", args=[reference])

    # when the page is opened
    path = path_for(procurement_request.reference)
    response = client.get(path)
    # then the answer is the one in the table
    expected = ROW_READS[(view, row)][role]
    _assert_outcome(response, expected, path=path)
    if expected == "200":
        if view == "attachment":
            assert b"".join(response.streaming_content) == b"%PDF-1.4\n% quote\n"
        else:
            assert procurement_request.reference in response.content.decode()
    if expected == "404":
        # and a forbidden request cannot be told apart from one that does not exist
        missing = client.get(path_for(MISSING_REFERENCE))
        assert missing.status_code == 404
        assert response.content == missing.content


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES[1:])
@pytest.mark.parametrize("view", ["detail", "confirmation", "attachment"])
def test_a_missing_reference_is_a_plain_404_for_everyone(client, cast, view, role):
    # given a real attachment id, but a reference that does not exist
    attachment_id = _rows(cast, with_attachments=True)["normal"].attachments.get().pk
    client = _client_for(client, cast[role])
    args = [MISSING_REFERENCE, attachment_id] if view == "attachment" else [MISSING_REFERENCE]
    # when it is opened
    response = client.get(reverse(f"requests_app:{view}", args=args))
    # then it is a 404
    assert response.status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES[1:])
def test_an_attachment_is_only_reachable_through_its_own_request(client, cast, role):
    # given the owner's visible request and the foreign request's attachment
    rows = _rows(cast, with_attachments=True)
    foreign_attachment = rows["foreign"].attachments.get()
    client = _client_for(client, cast[role])
    # when someone asks for the foreign file under a request of Sales they can (or cannot) see
    response = client.get(reverse("requests_app:attachment", args=[rows["normal"].reference, foreign_attachment.pk]))
    # then it is a 404: ids are not a way around the visibility rule
    assert response.status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("view", ["mine", "department", "approvals", "all"])
def test_lists_show_each_role_only_the_requests_the_table_says(client, cast, view, role):
    # given the three requests waiting for approval, so that every list has something to show
    rows = _rows(cast, status=Status.PENDING_APPROVAL)
    client = _client_for(client, cast[role])
    # when the list is opened
    path = reverse(f"requests_app:{view}")
    response = client.get(path)
    # then exactly the expected references are on it
    expected = LIST_CONTENTS[(view,)][role]
    if expected in {"login", "403"}:
        _assert_outcome(response, expected, path=path)
        return
    assert response.status_code == 200
    page = response.content.decode()
    shown = {name[0] for name, row in rows.items() if row.reference in page}
    assert shown == set(expected.replace("-", ""))


# --- Write tests --------------------------------------------------------------------------------


def _write_cases():
    for row, table in WRITES.items():
        for (action,), cells in table.items():
            for role in ROLES:
                yield pytest.param(row, action, role, cells[role], id=f"{row}-{action}-{role}")


@pytest.mark.django_db
@pytest.mark.parametrize(("row", "action", "role", "expected"), list(_write_cases()))
def test_writes_are_allowed_or_refused_as_the_table_says(client, cast, row, action, role, expected):
    # given the request in a status where the action is legal
    if action == "comment":
        status, data, target = Status.SUBMITTED, {"body": "Any news?"}, None
        path_name = "requests_app:comment"
    else:
        status, data, target = ACTION_CASES[action]
        data = {key: (cast["buyer"].pk if value == "BUYER" else value) for key, value in data.items()}
        path_name = f"requests_app:{action}"
    # "assign" is tried on an unassigned request; everything else that needs a buyer has bob.
    procurement_request = _rows(cast, status=status)[row]
    before = _snapshot(procurement_request)
    client = _client_for(client, cast[role])
    # when the user posts the action
    path = reverse(path_name, args=[procurement_request.reference])
    response = client.post(path, data)
    # then it happened, or it was refused and nothing changed
    after = _snapshot(procurement_request)
    if expected == "ok":
        assert response.status_code == 302, f"{path}: {response.status_code}"
        assert response.url == reverse("requests_app:detail", args=[procurement_request.reference])
        if target is None:
            assert after["comments"] == before["comments"] + 1
        else:
            assert after["status"] == target
            assert after["events"] > before["events"]
    else:
        _assert_outcome(response, expected, path=path)
        assert after == before


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_filing_a_request_is_open_to_every_role_but_not_to_anonymous(client, cast, role):
    # given a complete new-request form
    category = CategoryFactory(name="Goods", approval_threshold=Decimal("5000"))
    data = {
        "title": "Desk lamps",
        "description": "Two desk lamps.",
        "category": category.pk,
        "priority": "normal",
        "estimated_value": "80",
        "currency": euro().pk,
        "submission_token": str(uuid.uuid4()),
    }
    client = _client_for(client, cast[role])
    # when it is posted
    response = client.post(reverse("requests_app:create"), data)
    # then everyone with a role files it; anonymous is sent to log in and nothing is written
    if role == "anon":
        _assert_outcome(response, "login", path="create")
        assert not ProcurementRequest.objects.exists()
    else:
        created = ProcurementRequest.objects.get(title="Desk lamps")
        assert response.status_code == 302
        assert response.url == reverse("requests_app:confirmation", args=[created.reference])
        assert created.requester == cast[role]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["colleague", "other", "head", "buyer", "manager"])
def test_someone_elses_submission_token_is_refused_and_changes_nothing(client, cast, role):
    # given the owner's request and its submission token
    procurement_request = file_request(cast["owner"])
    before = (ProcurementRequest.objects.count(), _snapshot(procurement_request))
    client = _client_for(client, cast[role])
    # when another person posts a form carrying that token
    response = client.post(
        reverse("requests_app:create"),
        {
            "title": "Hijack",
            "description": "Not mine.",
            "category": procurement_request.category_id,
            "priority": "normal",
            "estimated_value": "1",
            "currency": euro().pk,
            "submission_token": str(procurement_request.submission_token),
        },
    )
    # then it is refused and nothing changed
    assert response.status_code == 403
    assert (ProcurementRequest.objects.count(), _snapshot(procurement_request)) == before


@pytest.mark.django_db
def test_a_user_without_a_role_cannot_open_or_post_the_new_request_form(client, department):
    # given a logged-in member of a department who holds no role
    nobody = person_upsert(username="nobody", department=department, roles=[])
    client.force_login(nobody)
    # when they open the form and post one
    form = client.get(reverse("requests_app:create"))
    filed = client.post(reverse("requests_app:create"), {"title": "x", "submission_token": str(uuid.uuid4())})
    # then both are refused by the role gate and nothing is written
    assert form.status_code == 403
    assert filed.status_code == 403
    assert not ProcurementRequest.objects.exists()
