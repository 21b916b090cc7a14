"""Helpers for the tests that run real Celery workers and a private Redis: start, kill, count e-mails.

Everything here manages only processes it started itself, by their PID: the shared Redis of the
machine (6379) and the suite's session worker are never touched.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.utils import timezone

from requests_app.models import ProcurementRequest, Status
from slas.models import EscalationStep, Metric, SlaClock, StepKind
from slas.services import clock_refresh
from tests.factories import CategoryFactory, euro
from tests.slas.factories import SlaGoalFactory

BASE_DIR = Path(__file__).resolve().parent.parent.parent
ROUND_THE_CLOCK = {
    "timezone": "UTC",
    "week": {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
}


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate, *, timeout, interval=0.2, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"{what} did not happen within {timeout} s")


class PrivateRedis:
    """A redis-server of this test alone, on a free port, without persistence: stopping it loses its queues."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.folder = folder
        self.process = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def answers(self):
        import redis

        try:
            client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except redis.RedisError:
            return False

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.folder,
            stdout=(self.folder / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self.answers, timeout=10, what=f"the private Redis on port {self.port}")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


class Worker:
    """A `celery worker` (solo pool) that a test may SIGKILL and start again; its log accumulates."""

    def __init__(self, *, env: dict, log_path: Path, name: str):
        self.env = env
        self.log_path = log_path
        self.name = name
        self.process = None
        self.starts = 0

    def start(self, timeout=60):
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.starts += 1
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "servicedesk",
            "worker",
            "--pool=solo",
            "--loglevel=info",
            f"--hostname={self.name}-{self.starts}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited ({self.process.returncode}):\n{self.log_tail()}")
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return b"ready." in log.read()

        wait_until(ready, timeout=timeout, what="the worker's 'ready.'")

    def kill(self):
        """SIGKILL: no warm shutdown, no acknowledgement, no clean-up (its task's transaction rolls back)."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def log_tail(self, lines=30):
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def celery_broker(app, url):
    """Point this process's Celery app at another broker (its pools are rebuilt), then back."""

    def switch(broker_url, options):
        # Drop the references only: kombu keeps pools in a global registry by URL, and a closed one
        # would be handed out again the next time this URL is used.
        app._pool = None
        app.amqp._producer_pool = None
        app.conf.broker_url = broker_url
        app.conf.broker_transport_options = options

    saved = (app.conf.broker_url, app.conf.broker_transport_options)
    switch(url, {"visibility_timeout": 600, "socket_connect_timeout": 3, "socket_timeout": 10})
    try:
        yield
    finally:
        switch(*saved)


def mailed(mail_dir: Path, *, skip=frozenset()) -> Counter:
    """How many e-mails each notification id has in the file backend's folder (files in `skip` left out)."""
    header = re.compile(rb"^X-Servicedesk-Notification: (\d+)\r?$", re.MULTILINE)
    counts = Counter()
    for path in Path(mail_dir).glob("*.log"):
        if path.name not in skip:
            counts.update(int(found) for found in header.findall(path.read_bytes()))
    return counts


def round_the_clock_goal(*, ladder=None, first_response_minutes=100):
    """A goal on a 24×7 calendar (no quiet hours ever), with its own ladder (None: the default ladder)."""
    category = CategoryFactory(name=f"Faults {uuid.uuid4().hex[:6]}", approval_threshold=Decimal("5000"))
    goal = SlaGoalFactory(
        category=category,
        first_response_minutes=first_response_minutes,
        resolution_minutes=10_000,
        calendar__spec=ROUND_THE_CLOCK,
        policy__position=0,
    )
    for kind, value, fields in ladder or ():
        EscalationStep.objects.create(policy=goal.policy, kind=kind, value=value, **fields)
    return goal


EMAIL_ONLY_TO_THE_ASSIGNEE_AT_HALF_TIME = [
    (StepKind.PERCENT, 50, {"notify_assignee": True, "in_app": False, "by_email": True})
]


def due_requests(n, *, goal, requester, assignee, started_minutes_ago):
    """n assigned requests whose first-response clock started that long ago (bulk: seconds, not minutes)."""
    started = timezone.now() - timedelta(minutes=started_minutes_ago)
    department_id = requester.membership.department_id
    requests = ProcurementRequest.objects.bulk_create(
        [
            ProcurementRequest(
                reference=f"PR-T{uuid.uuid4().hex[:12].upper()}",
                title=f"Fault test request {number}",
                description="Seeded in bulk.",
                category=goal.category,
                department_id=department_id,
                requester=requester,
                estimated_value=Decimal("100"),
                currency=euro(),
                estimated_value_base=Decimal("100"),
                status=Status.ASSIGNED,
                assignee=assignee,
                created_at=started,
            )
            for number in range(n)
        ]
    )
    clocks = []
    for procurement_request in requests:
        clock = SlaClock(
            procurement_request=procurement_request,
            metric=Metric.FIRST_RESPONSE,
            goal=goal,
            goal_seconds=goal.first_response_minutes * 60,
            calendar=goal.calendar,
            started_at=started,
            computed_at=started,
        )
        clocks.append(clock_refresh(clock, now=started))
    SlaClock.objects.bulk_create(clocks)
    return requests
