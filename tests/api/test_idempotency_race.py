"""Two retries of the same POST racing each other on PostgreSQL file one request and answer alike.

Transactional: each thread has its own connection and commits, as two web processes would."""

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections

from requests_app.models import ProcurementRequest
from requests_app.routing import routing_defaults_ensure
from slas.demo import sla_defaults_ensure
from stakeholders.roles import Role
from tests.conftest import require_service
from tests.factories import CategoryFactory, DepartmentFactory, euro, person

from .conftest import token_client

RACERS = 4


@pytest.mark.django_db(transaction=True)
def test_racing_retries_with_one_key_file_one_request():
    require_service("PostgreSQL", connection.vendor == "postgresql", "row locks and unique-index waits are tested")
    # given (after earlier flushes) the reference data and a requester with a token
    sla_defaults_ensure()
    routing_defaults_ensure()
    requester = person(Role.REQUESTER, DepartmentFactory(name="Sales", code="SALES"), username="alice")
    body = {
        "title": "Desk lamps",
        "description": "Two desk lamps.",
        "category": CategoryFactory(name="Goods", approval_threshold=Decimal("5000")).pk,
        "priority": "normal",
        "estimated_value": "80.00",
        "currency": euro().pk,
    }
    clients = [token_client(requester) for _ in range(RACERS)]
    start, answers = threading.Barrier(RACERS), []

    def retry(client):
        try:
            start.wait()
            answers.append(client.post("/api/v1/requests/", body, format="json", HTTP_IDEMPOTENCY_KEY="lamps-1"))
        finally:
            connections.close_all()

    # when the same POST arrives four times at once
    threads = [threading.Thread(target=retry, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then one request is filed, and every answer is the first one
    assert ProcurementRequest.objects.count() == 1
    assert {answer.status_code for answer in answers} == {201}
    assert len({answer.json()["reference"] for answer in answers}) == 1
    assert sum(answer.has_header("Idempotent-Replayed") for answer in answers) == RACERS - 1
