"""`manage.py import_calendar FILE.json`: create a business calendar from a spec file, or add a version.

The file holds the spec `slas.clock.Calendar.from_spec` reads ({"timezone", "week", "holidays",
"exceptions"}), optionally with a top-level "name" (and "description"). Any error names the bad
field and writes nothing.
"""

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from slas.calendars import business_calendar_import


def _describe(error: ValidationError) -> str:
    """'week.mon[0]: bad time …' for the spec (its messages name the field inside it), 'field: …' otherwise."""
    if not hasattr(error, "error_dict"):
        return " ".join(error.messages)
    parts = []
    for field, messages in error.message_dict.items():
        text = " ".join(messages)
        parts.append(text if field == "spec" else f"{field}: {text}")
    return "; ".join(parts)


class Command(BaseCommand):
    help = (
        "Create a business calendar from a JSON spec file, or add the file as a new version of the calendar "
        "with that name (in force from --effective-from, default now; never in the past without "
        "--allow-retroactive)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help='JSON: {"timezone", "week", "holidays", "exceptions"} and optionally "name".')
        parser.add_argument("--name", help="The calendar's name (overrides the file's).")
        parser.add_argument(
            "--effective-from",
            help="ISO date-time the version is in force from, e.g. 2027-01-01T00:00; without an offset it is read "
            "in the calendar's time zone. Default: now.",
        )
        parser.add_argument("--description", help="The calendar's description (overrides the file's).")
        parser.add_argument("--note", help="Why this version is added (default: the file name).")
        parser.add_argument(
            "--allow-retroactive",
            action="store_true",
            help="Accept a version starting in the past. Clocks are not recomputed by this command.",
        )

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise CommandError(f"{path}: cannot read the file ({error.strerror or error}).") from error
        except UnicodeDecodeError as error:
            raise CommandError(f"{path}: not UTF-8 text ({error.reason}).") from error
        except json.JSONDecodeError as error:
            raise CommandError(
                f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})."
            ) from error
        if not isinstance(data, dict):
            raise CommandError(f"{path}: the top level must be an object with timezone, week, holidays and exceptions.")

        spec = dict(data)
        file_name = spec.pop("name", None)
        name = options["name"] or file_name
        file_description = spec.pop("description", None)
        description = options["description"] if options["description"] is not None else file_description
        if not isinstance(name, str) or not name.strip():
            raise CommandError(f'{path}: no calendar name: give --name or a top-level "name".')
        if description is not None and not isinstance(description, str):
            raise CommandError(f"{path}: description: must be text.")
        effective_from = self._moment(options["effective_from"], spec.get("timezone"))

        try:
            calendar, version, created = business_calendar_import(
                name=name.strip(),
                spec=spec,
                description=description,
                effective_from=effective_from,
                note=options["note"] or f"Imported from {path.name}.",
                allow_retroactive=options["allow_retroactive"],
            )
        except ValidationError as error:
            raise CommandError(f"{path}: {_describe(error).rstrip('.')}. Nothing was imported.") from error

        start = timezone.localtime(version.effective_from, ZoneInfo(version.spec["timezone"]))
        if created:
            self.stdout.write(
                self.style.SUCCESS(f"Created calendar “{calendar}” (in force from {start:%Y-%m-%d %H:%M %Z}).")
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(f"Added a version of “{calendar}” in force from {start:%Y-%m-%d %H:%M %Z}.")
            )

    def _moment(self, text, zone_name):
        if not text:
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as error:
            raise CommandError(f"--effective-from: {text!r} is not an ISO date-time, e.g. 2027-01-01T00:00.") from error
        if timezone.is_aware(moment):
            return moment
        try:
            zone = ZoneInfo(zone_name)
        except (TypeError, ValueError, ZoneInfoNotFoundError):  # reported with the spec's other errors
            zone = timezone.get_default_timezone()
        return timezone.make_aware(moment, zone)
