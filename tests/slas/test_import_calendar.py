"""`manage.py import_calendar FILE.json`: creates a calendar or adds a version; any error names what is
wrong and writes nothing."""

import json
from datetime import timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from slas.models import BusinessCalendar, BusinessCalendarVersion
from tests.slas.factories import office_spec

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command("import_calendar", *map(str, args), stdout=out)
    return out.getvalue()


def write(tmp_path, content, name="calendar.json"):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def rows():
    return BusinessCalendar.objects.count(), BusinessCalendarVersion.objects.count()


def test_a_good_file_creates_the_calendar_it_names(tmp_path):
    # given a spec file with a name and a description
    path = write(tmp_path, {"name": "Plant hours", "description": "Shifts.", **office_spec(holidays=["2026-12-25"])})
    # when it is imported
    output = run(path)
    # then the calendar exists with that spec as its one version
    calendar = BusinessCalendar.objects.get(name="Plant hours")
    version = calendar.versions.get()
    assert calendar.description == "Shifts."
    assert version.spec["holidays"] == ["2026-12-25"]
    assert version.note == "Imported from calendar.json."
    assert "Created calendar “Plant hours”" in output


def test_a_second_import_adds_a_version_from_the_given_moment(tmp_path):
    # given an imported calendar
    run(write(tmp_path, office_spec()), "--name", "Plant hours")
    # when a file with new hours is imported for it from a future moment, without an offset
    start = timezone.localtime(timezone.now() + timedelta(days=30), ZoneInfo("Europe/Berlin")).replace(
        second=0, microsecond=0
    )
    output = run(
        write(tmp_path, office_spec(hours=[("07:00", "15:00")]), "new.json"),
        "--name",
        "Plant hours",
        "--effective-from",
        start.replace(tzinfo=None).isoformat(),
        "--description",
        "Early shift.",
    )
    # then a second version starts then, read in the calendar's time zone
    calendar = BusinessCalendar.objects.get(name="Plant hours")
    latest = calendar.versions.latest("effective_from")
    assert calendar.versions.count() == 2
    assert latest.effective_from == start
    assert latest.spec["week"]["mon"] == [["07:00", "15:00"]]
    assert calendar.description == "Early shift."
    assert "Added a version" in output


def test_the_name_option_wins_over_the_files(tmp_path):
    run(write(tmp_path, {"name": "From file", **office_spec()}), "--name", "From option")
    assert list(BusinessCalendar.objects.filter(name__startswith="From").values_list("name", flat=True)) == [
        "From option"
    ]


def test_bad_json_is_reported_with_its_position_and_writes_nothing(tmp_path):
    # given a file that is not JSON
    before = rows()
    path = write(tmp_path, '{"timezone": "Europe/Berlin",\n "week": {]}')
    # when it is imported, then the error says where, and nothing is written
    with pytest.raises(CommandError, match=r"not valid JSON \(line 2, column"):
        run(path, "--name", "Broken")
    assert rows() == before


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (office_spec(hours=[("09:00", "17:60")]), "week.mon[0]"),
        ({**office_spec(), "timezone": "Mars/Olympus"}, "timezone"),
        (office_spec(holidays=["25.12.2026"]), "holidays[0]"),
        ({**office_spec(), "breaks": []}, "unknown field"),
    ],
    ids=["week", "timezone", "holidays", "unknown"],
)
def test_a_bad_spec_names_the_field_and_writes_nothing(tmp_path, spec, field):
    # given a file whose spec is wrong in one field
    before = rows()
    # when it is imported
    with pytest.raises(CommandError) as caught:
        run(write(tmp_path, {"name": "Broken", **spec}))
    # then the error names the field, and nothing is written
    assert f"calendar.json: {field}" in str(caught.value) or f"calendar.json: spec: {field}" in str(caught.value)
    assert str(caught.value).endswith(". Nothing was imported.")
    assert rows() == before


def test_a_bad_spec_for_an_existing_calendar_changes_nothing(tmp_path):
    # given an imported calendar
    run(write(tmp_path, office_spec()), "--name", "Plant hours", "--description", "Original.")
    before = rows()
    # when a bad file is imported for it with a new description
    with pytest.raises(CommandError, match=r"week\.mon\[0\]"):
        run(
            write(tmp_path, office_spec(hours=[("9", "17")]), "bad.json"),
            "--name",
            "Plant hours",
            "--description",
            "New.",
        )
    # then neither a version nor the description is written
    assert rows() == before
    assert BusinessCalendar.objects.get(name="Plant hours").description == "Original."


def test_a_version_in_the_past_is_refused_for_an_existing_calendar(tmp_path):
    # given an imported calendar
    run(write(tmp_path, office_spec()), "--name", "Plant hours")
    before = rows()
    # when a version starting last year is imported, then it is refused on effective_from
    with pytest.raises(CommandError, match="effective_from: .* is in the past"):
        run(write(tmp_path, office_spec()), "--name", "Plant hours", "--effective-from", "2025-01-01T00:00+01:00")
    assert rows() == before
    # unless explicitly allowed
    run(
        write(tmp_path, office_spec()), "--name", "Plant hours", "--effective-from", "2025-01-01", "--allow-retroactive"
    )
    assert rows() == (before[0], before[1] + 1)


@pytest.mark.parametrize(
    ("content", "arguments", "message"),
    [
        (office_spec(), [], "no calendar name"),
        ([1, 2], ["--name", "X"], "top level must be an object"),
        (office_spec(), ["--name", "X", "--effective-from", "next tuesday"], "--effective-from"),
    ],
    ids=["no-name", "not-an-object", "bad-moment"],
)
def test_other_input_errors_are_clear_and_write_nothing(tmp_path, content, arguments, message):
    before = rows()
    with pytest.raises(CommandError, match=message):
        run(write(tmp_path, content), *arguments)
    assert rows() == before


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read the file"):
        run(tmp_path / "missing.json", "--name", "X")
