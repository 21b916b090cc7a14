"""Rebuild SLA clocks from each request's event history: an explicit, audited command.

    manage.py sla_recompute --request PR-2026-000123
    manage.py sla_recompute --all [--by maria]

On unchanged data it changes nothing; where the rebuilt clocks differ (a rule fixed, a calendar
corrected retroactively), it keeps them and writes a timeline line naming who recomputed them.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from requests_app.models import ProcurementRequest
from slas.services import sla_clocks_rebuild


class Command(BaseCommand):
    help = "Rebuild SLA clocks from the event history (one request, or all); audited, idempotent."

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--request", metavar="REF", help="the reference of one request, e.g. PR-2026-000123")
        target.add_argument("--all", action="store_true", help="every request")
        parser.add_argument("--by", metavar="USERNAME", help="who asked for it, for the timeline")

    def handle(self, *args, **options):
        actor = None
        if options["by"]:
            actor = get_user_model().objects.filter(username=options["by"]).first()
            if actor is None:
                raise CommandError(f"--by: no user named {options['by']!r}.")
        if options["request"]:
            requests = ProcurementRequest.objects.filter(reference=options["request"])
            if not requests.exists():
                raise CommandError(f"--request: no request {options['request']!r}.")
        else:
            requests = ProcurementRequest.objects.order_by("pk")
        changed = unchanged = 0
        for procurement_request in requests.iterator(chunk_size=200):
            if sla_clocks_rebuild(procurement_request=procurement_request, actor=actor):
                changed += 1
                self.stdout.write(f"{procurement_request.reference}: clocks rebuilt (they differed)")
            else:
                unchanged += 1
        self.stdout.write(self.style.SUCCESS(f"{changed} request(s) recomputed, {unchanged} unchanged."))
