import pytest

from requests_app.models import Status
from tests.factories import file_request


@pytest.mark.django_db
def test_submitting_gives_a_reference_and_a_created_event(requester):
    pr = file_request(requester)
    assert pr.reference.startswith("PR-")
    assert pr.status == Status.SUBMITTED
    assert list(pr.events.values_list("kind", flat=True)) == ["created"]
