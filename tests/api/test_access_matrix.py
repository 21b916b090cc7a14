"""The browser's access matrix (tests/requests_app/test_views_access.py), repeated for the API: the same
tables, read with the API's answers. "login" is 401 here (no redirects), a write that happened is 200
(an action, answering with the request) or 201 (a reply), and a refused write changes nothing."""

import pytest

from tests.requests_app.test_views_access import (
    ACTION_CASES,
    MISSING_REFERENCE,
    ROLES,
    ROW_READS,
    WRITES,
    _file,
    _pdf,
    _snapshot,
    _write_cases,
)

from .conftest import token_client


@pytest.fixture(name="cast")
def cast_by_role(requester, colleague, other_requester, head, buyer, manager):
    """The browser matrix's people, by its column names (anon: no token)."""
    people = (None, requester, colleague, other_requester, head, buyer, manager)
    return dict(zip(ROLES, people, strict=True))


API_ANSWERS = {"login": 401, "ok": None}


def _expected_status(cell, *, done):
    return done if cell == "ok" else API_ANSWERS.get(cell) or int(cell)


def _row(cast, row, *, status, with_attachment=False):
    """Only the request the case needs ("normal", "confidential" or "foreign"), in `status`."""
    owner = cast["other"] if row == "foreign" else cast["owner"]
    files = [_pdf()] if with_attachment else []
    return _file(owner, status=status, buyer=cast["buyer"], is_confidential=row == "confidential", files=files)


# --- Reads --------------------------------------------------------------------------------------

# Every endpoint without an object in its path, per role: 200 or the error.
ENDPOINT_READS = {
    "/api/v1/me/": "401 200 200 200 200 200 200",
    "/api/v1/requests/": "401 200 200 200 200 200 200",
    "/api/v1/categories/": "401 200 200 200 200 200 200",
    "/api/v1/departments/": "401 200 200 200 200 200 200",
    "/api/v1/teams/": "401 403 403 403 403 200 200",
    "/api/v1/sla-policies/": "401 200 200 200 200 200 200",
    "/api/v1/catalogue/": "401 200 200 200 200 200 200",
    "/api/v1/notifications/": "401 200 200 200 200 200 200",
    "/api/v1/dashboard/": "401 403 403 403 403 403 200",
}


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", list(ENDPOINT_READS))
def test_endpoints_answer_each_role_as_the_table_says(cast, path, role):
    expected = dict(zip(ROLES, ENDPOINT_READS[path].split(), strict=True))[role]
    assert token_client(cast[role]).get(path).status_code == int(expected)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("row", ["normal", "confidential", "foreign"])
def test_a_request_and_its_attachment_answer_each_role_as_the_pages_do(cast, row, role):
    # given the request with one attachment
    procurement_request = _row(cast, row, status="submitted", with_attachment=True)
    attachment = procurement_request.attachments.get()
    api = token_client(cast[role])
    detail = f"/api/v1/requests/{procurement_request.reference}/"
    download = f"{detail}attachments/{attachment.pk}/"
    # when they are read, then the answers are the request page's and the download's
    for view, path in (("detail", detail), ("attachment", download)):
        expected = _expected_status(ROW_READS[(view, row)][role], done=200)
        response = api.get(path)
        assert response.status_code == expected, (view, path, response.status_code)
        if expected == 404:
            # and a forbidden request cannot be told from a missing one
            missing = api.get(path.replace(procurement_request.reference, MISSING_REFERENCE))
            assert missing.status_code == 404 and missing.json() == response.json()
    # and the list shows it exactly when its page may be opened
    if role != "anon":
        listed = [item["reference"] for item in api.get("/api/v1/requests/").json()["results"]]
        assert (procurement_request.reference in listed) == (ROW_READS[("detail", row)][role] == "200")


# --- Writes -------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("row", "action", "role", "expected"), list(_write_cases()))
def test_writes_are_allowed_or_refused_as_the_browsers_table_says(cast, row, action, role, expected):
    # given the request in a status where the action is legal
    if action == "comment":
        status, data, target, path_end, done = "submitted", {"body": "Any news?"}, None, "replies", 201
    else:
        status, data, target = ACTION_CASES[action]
        data = {key: (cast["buyer"].pk if value == "BUYER" else value) for key, value in data.items()}
        path_end, done = action.replace("_", "-"), 200
    procurement_request = _row(cast, row, status=status)
    before = _snapshot(procurement_request)
    # when the person posts the action through the API
    response = token_client(cast[role]).post(
        f"/api/v1/requests/{procurement_request.reference}/{path_end}/", data, format="json"
    )
    # then it happened, or it was refused with the page's answer and nothing changed
    after = _snapshot(procurement_request)
    assert response.status_code == _expected_status(expected, done=done), response.json()
    if expected == "ok":
        if target is None:
            assert after["comments"] == before["comments"] + 1
        else:
            assert after["status"] == target and after["events"] > before["events"]
    else:
        assert after == before
        assert set(response.json()) == {"errors"}


# Notes and uploads have no row of their own in the browser's tables: an upload is allowed to whoever may
# reply (the comment row); a note to those of them who are Procurement.
def _note_and_upload_cases():
    for row, table in WRITES.items():
        for role in ROLES:
            reply = table[("comment",)][role]
            note = "403" if reply == "ok" and role not in ("buyer", "manager") else reply
            yield pytest.param(row, "notes", role, note, id=f"{row}-notes-{role}")
            yield pytest.param(row, "attachments", role, reply, id=f"{row}-attachments-{role}")


@pytest.mark.django_db
@pytest.mark.parametrize(("row", "endpoint", "role", "expected"), list(_note_and_upload_cases()))
def test_notes_and_uploads_follow_the_reply_rights(cast, row, endpoint, role, expected):
    procurement_request = _row(cast, row, status="submitted")
    before = _snapshot(procurement_request)
    path = f"/api/v1/requests/{procurement_request.reference}/{endpoint}/"
    api = token_client(cast[role])
    if endpoint == "notes":
        response = api.post(path, {"body": "Budget checked."}, format="json")
    else:
        response = api.post(path, {"files": [_pdf()]}, format="multipart")
    after = _snapshot(procurement_request)
    assert response.status_code == _expected_status(expected, done=201), response.json()
    if expected == "ok":
        counted = "attachments" if endpoint == "attachments" else "comments"
        assert after[counted] == before[counted] + 1
    else:
        assert after == before
