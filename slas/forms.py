"""Forms for calendars and policies, for the admin and the managers' SLA settings page. They clean
input only; the views pass it to the services in `slas/calendars.py` and `slas/policies.py`."""

import json
import re
import zoneinfo
from datetime import date, timedelta

from django import forms
from django.conf import settings
from django.contrib.admin import widgets
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet, inlineformset_factory
from django.utils import timezone

from .calendars import PUBLIC, calendar_spec_normalise
from .catalogue import WEEKDAYS
from .dashboard import Period, Scope, recent_quarters
from .models import BusinessCalendar, SlaGoal, SlaPolicy
from .policies import sla_policy_check

SPEC_HELP = (
    'JSON: {"timezone": "Europe/Berlin", "week": {"mon": [["08:00", "12:00"], ["13:00", "17:00"]], …}, '
    '"holidays": ["2026-12-25", …], "exceptions": {"2026-12-24": [["09:00", "12:00"]]}}. '
    "An exception replaces that date's hours (an empty list closes it) and wins over a holiday."
)
SPEC_TEMPLATE = {
    "timezone": "Europe/Berlin",
    "week": {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": [],
    "exceptions": {},
}


class PrettyJSONField(forms.JSONField):
    """A JSON text area that shows its value indented, one entry a line."""

    widget = forms.Textarea(attrs={"rows": 18, "cols": 100, "class": "vLargeTextField"})

    def prepare_value(self, value):
        if isinstance(value, str):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)


class SpecField(PrettyJSONField):
    def clean(self, value):
        spec = super().clean(value)
        try:
            return calendar_spec_normalise(spec)
        except ValidationError as error:
            raise ValidationError(error.message_dict["spec"]) from error


class BusinessCalendarCreateForm(forms.ModelForm):
    """A new calendar and its first version."""

    spec = SpecField(initial=SPEC_TEMPLATE, help_text=SPEC_HELP)
    note = forms.CharField(max_length=255, required=False, initial="First version.")

    class Meta:
        model = BusinessCalendar
        fields = ["name", "description", "is_active"]


class OptionalFutureMomentField(forms.SplitDateTimeField):
    widget = widgets.AdminSplitDateTime

    def __init__(self, **kwargs):
        super().__init__(required=False, help_text="Empty: now. Never in the past.", **kwargs)

    def clean(self, value):
        return _now_or_later(super().clean(value))


def _now_or_later(moment):
    """None (now) or a future moment; a moment in the past is refused, so counted time is never rewritten."""
    # A minute's grace for the time the form took to fill in; the service still refuses older moments.
    if moment is not None and moment < timezone.now() - timedelta(minutes=1):
        raise ValidationError(
            "A new version cannot start in the past: time already counted is not rewritten.", code="past"
        )
    if moment is not None and moment < timezone.now():
        return None
    return moment


class FutureMomentField(forms.DateTimeField):
    """The same rule as the admin's field, as one browser date-time input (in the viewer's time zone)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def __init__(self, **kwargs):
        super().__init__(required=False, help_text="Empty: now. Never in the past.", **kwargs)

    def clean(self, value):
        return _now_or_later(super().clean(value))


class BusinessCalendarVersionForm(forms.Form):
    effective_from = OptionalFutureMomentField(label="In force from")
    spec = SpecField(help_text=SPEC_HELP)
    note = forms.CharField(max_length=255, help_text="Why the calendar changes, for the record.")


class HolidayImportForm(forms.Form):
    country = forms.CharField(max_length=10, help_text="ISO country code, e.g. DE.")
    subdivision = forms.CharField(max_length=50, required=False, help_text="State or region code, e.g. BY. Optional.")
    years = forms.CharField(max_length=100, help_text="Comma-separated, e.g. 2026, 2027.")
    categories = forms.CharField(
        max_length=100,
        initial=PUBLIC,
        help_text=(
            "Holiday categories of the holidays package, comma-separated: “public” are statutory holidays; "
            "add “catholic” in Bavaria for Assumption Day (15 August) in mostly Catholic municipalities."
        ),
    )
    effective_from = OptionalFutureMomentField(label="In force from")

    def clean_years(self):
        text = self.cleaned_data["years"]
        try:
            years = sorted({int(part) for part in text.replace(";", ",").split(",") if part.strip()})
        except ValueError as error:
            raise ValidationError("Give years as numbers separated by commas, e.g. 2026, 2027.") from error
        if not years:
            raise ValidationError("Give at least one year.")
        return years

    def clean_categories(self):
        return [part.strip() for part in self.cleaned_data["categories"].split(",") if part.strip()] or [PUBLIC]


# --- The managers' SLA settings page --------------------------------------------------------------

_HOURS = re.compile(r"^\s*(\d{1,2}:\d{2})\s*[-–]\s*(\d{1,2}:\d{2})\s*$")
DAY_LABELS = dict(
    zip(WEEKDAYS, ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"], strict=True)
)


def _parse_hours(text, *, what):
    """'08:00-12:00, 13:00-17:00' -> [["08:00", "12:00"], ["13:00", "17:00"]]; '' or 'closed' -> []."""
    text = (text or "").strip()
    if not text or text.lower() == "closed":
        return []
    intervals = []
    for part in text.split(","):
        match = _HOURS.match(part)
        if not match:
            raise ValidationError(
                f"{what}: write hours as 08:00-12:00, 13:00-17:00 (or leave empty for closed); “{part.strip()}” is not."
            )
        intervals.append([value.zfill(5) for value in match.groups()])
    return intervals


def _hours_text(intervals):
    return ", ".join(f"{start}-{end}" for start, end in intervals)


class CalendarHoursForm(forms.Form):
    """A new calendar version in plain fields: working hours per weekday, holidays, exceptions."""

    effective_from = FutureMomentField(label="In force from")
    timezone = forms.ChoiceField(choices=[])
    holidays = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Closed dates, one per line or comma-separated, as YYYY-MM-DD.",
    )
    exceptions = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Special hours for a date, one per line: “2026-12-24: 09:00-12:00” or “2026-12-31: closed”. "
        "An exception replaces that day's hours and wins over a holiday.",
    )
    note = forms.CharField(max_length=255, help_text="Why the calendar changes, for the record.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = [(zone, zone) for zone in sorted(zoneinfo.available_timezones())]
        for day in reversed(WEEKDAYS):
            field = forms.CharField(
                label=DAY_LABELS[day], required=False, help_text="" if day != "mon" else "e.g. 08:00-12:00, 13:00-17:00"
            )
            self.fields = {"effective_from": self.fields.pop("effective_from"), day: field, **self.fields}

    @staticmethod
    def initial_from_spec(spec):
        initial = {day: _hours_text(spec.get("week", {}).get(day, [])) for day in WEEKDAYS}
        initial["timezone"] = spec.get("timezone", settings.TIME_ZONE)
        initial["holidays"] = "\n".join(spec.get("holidays", []))
        initial["exceptions"] = "\n".join(
            f"{day}: {_hours_text(hours) or 'closed'}" for day, hours in sorted(spec.get("exceptions", {}).items())
        )
        return initial

    def _clean_day(self, day):
        return _parse_hours(self.cleaned_data.get(day), what=DAY_LABELS[day])

    def clean_holidays(self):
        days = [part for part in re.split(r"[\s,;]+", self.cleaned_data["holidays"]) if part]
        for day in days:
            try:
                date.fromisoformat(day)
            except ValueError as error:
                raise ValidationError(f"“{day}” is not a date like 2026-12-25.") from error
        return sorted(set(days))

    def clean_exceptions(self):
        exceptions = {}
        for line in self.cleaned_data["exceptions"].splitlines():
            if not line.strip():
                continue
            day, _, hours = line.partition(":")
            day = day.strip()
            try:
                date.fromisoformat(day)
            except ValueError as error:
                raise ValidationError(f"“{line.strip()}”: start the line with a date like 2026-12-24.") from error
            exceptions[day] = _parse_hours(hours, what=day)
        return exceptions

    def clean(self):
        cleaned = super().clean()
        week = {}
        for day in WEEKDAYS:
            try:
                intervals = self._clean_day(day)
            except ValidationError as error:
                self.add_error(day, error)
                continue
            if intervals:
                week[day] = intervals
        if self.errors:
            return cleaned
        spec = {
            "timezone": cleaned["timezone"],
            "week": week,
            "holidays": cleaned.get("holidays", []),
            "exceptions": cleaned.get("exceptions", {}),
        }
        try:
            cleaned["spec"] = calendar_spec_normalise(spec)
        except ValidationError as error:
            for message in error.message_dict["spec"]:
                field = self._field_named_in(message)
                # Beside its field, "week.wed[0]: end 09:00 is not after start 17:00" needs no address.
                self.add_error(field, message.split(": ", 1)[-1] if field in WEEKDAYS else message)
        return cleaned

    @staticmethod
    def _field_named_in(message):
        """The field a calendar error is about, from the words `slas.clock` uses to name it."""
        lowered = message.lower()
        for day in WEEKDAYS:
            if f"week.{day}" in lowered or f"'{day}'" in lowered or f'"{day}"' in lowered:
                return day
        for field in ("exceptions", "holidays", "timezone"):
            if field.rstrip("s") in lowered:
                return field
        return None


class HolidayImportPageForm(HolidayImportForm):
    """The holiday import on the settings page: the same fields, a browser date-time input."""

    effective_from = FutureMomentField(label="In force from")


class ThresholdsField(forms.CharField):
    """Warning thresholds typed as '50, 75, 90'."""

    def prepare_value(self, value):
        if isinstance(value, list):
            return ", ".join(str(item) for item in value)
        return value

    def to_python(self, value):
        text = super().to_python(value)
        try:
            return [int(part) for part in re.split(r"[\s,;]+", text) if part]
        except ValueError as error:
            raise ValidationError("Give whole percentages separated by commas, e.g. 50, 75, 90.") from error


class SlaPolicyForm(forms.ModelForm):
    class Meta:
        model = SlaPolicy
        fields = ["name", "description", "position", "is_active"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


# A goal as managers edit it, in the admin and on the settings page.
GOAL_FIELDS = [
    "position",
    "category",
    "priority",
    "department",
    "first_response_minutes",
    "resolution_minutes",
    "calendar",
    "warning_thresholds",
]


class SlaGoalForm(forms.ModelForm):
    warning_thresholds = ThresholdsField(
        initial="50, 75, 90", help_text="Percent of the goal at which to warn; the breach at 100 % is implicit."
    )

    class Meta:
        model = SlaGoal
        fields = GOAL_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["calendar"].queryset = BusinessCalendar.objects.active()
        # Rendered as a table row: the column headers are the labels, so the widgets carry the styling.
        for name, field in self.fields.items():
            css = (
                "form-select form-select-sm"
                if isinstance(field.widget, forms.Select)
                else "form-control form-control-sm"
            )
            if self.errors.get(name):
                css += " is-invalid"
            field.widget.attrs["class"] = css
            field.widget.attrs["aria-label"] = field.label


class SlaGoalFormSet(BaseInlineFormSet):
    """The goals as they will be saved must make a sound policy (reachable; the default ends with a catch-all)."""

    def kept_goals(self):
        """The goals that stay, in their order of precedence (position, then as listed)."""
        kept = [
            (form.cleaned_data.get("position") or 0, index, form.instance)
            for index, form in enumerate(self.forms)
            if form.cleaned_data and not self._should_delete_form(form)
        ]
        return [goal for _, _, goal in sorted(kept, key=lambda item: item[:2])]

    def removed_goals(self):
        return [form.instance for form in self.deleted_forms if form.instance.pk is not None]

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        sla_policy_check(policy=self.instance, goals=self.kept_goals())


SlaGoalPageFormSet = inlineformset_factory(
    SlaPolicy, SlaGoal, form=SlaGoalForm, formset=SlaGoalFormSet, extra=1, can_delete=True
)


class DashboardFilterForm(forms.Form):
    """The dashboard's filters (GET, so that the URL can be shared). An invalid value is shown beside its
    field and left out: the period falls back to the last 30 days, a bad dimension to "any"."""

    PERIODS = [("7", "Last 7 days"), ("30", "Last 30 days"), ("90", "Last 90 days"), ("quarter", "Quarter")]
    PERIODS += [("custom", "Custom dates")]
    DEFAULT_PERIOD = "30"
    QUARTERS_SHOWN = 8
    MAX_CUSTOM_DAYS = 731  # two years: the weekly charts stay readable

    period = forms.ChoiceField(label="Period", required=False, choices=PERIODS, initial=DEFAULT_PERIOD)
    quarter = forms.ChoiceField(label="Quarter", required=False)
    start = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="Until", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    team = forms.ChoiceField(label="Team", required=False)
    department = forms.ChoiceField(label="Department", required=False)
    category = forms.ChoiceField(label="Category", required=False)
    priority = forms.ChoiceField(label="Priority", required=False)

    def __init__(self, *args, **kwargs):
        from requests_app.forms import _small, dimension_choices_set
        from requests_app.models import Priority

        super().__init__(*args, **kwargs)
        self.fields["quarter"].choices = [
            ("", "Choose…"),
            *((f"{year}-Q{number}", f"Q{number} {year}") for year, number in recent_quarters(self.QUARTERS_SHOWN)),
        ]
        dimension_choices_set(self)
        self.fields["priority"].choices = [("", "Any priority"), *Priority.choices]
        for form_field in self.fields.values():
            _small(form_field.widget)

    def clean(self):
        data = super().clean()
        period = data.get("period") or self.DEFAULT_PERIOD
        if period == "quarter" and not data.get("quarter") and "quarter" not in self.errors:
            self.add_error("quarter", "Choose the quarter to show.")
        if period == "custom":
            start, end = data.get("start"), data.get("end")
            for name in ("start", "end"):
                if not data.get(name) and name not in self.errors:
                    self.add_error(name, "Give both dates of a custom period.")
            if start and end and start > end:
                self.add_error("end", "Must not be before the start date.")
            elif start and end and (end - start).days + 1 > self.MAX_CUSTOM_DAYS:
                self.add_error("end", f"A custom period is at most {self.MAX_CUSTOM_DAYS} days.")
        return data

    def _valid(self, name):
        """The cleaned value of a field that passed, else None (the form's errors say why)."""
        if not self.is_bound:
            return None
        self.is_valid()
        return None if name in self.errors else self.cleaned_data.get(name) or None

    def chosen_period(self):
        """The chosen period, or the last 30 days when the choice is missing or invalid."""
        chosen = self._valid("period") or self.DEFAULT_PERIOD
        if chosen == "quarter":
            quarter = self._valid("quarter")
            if quarter:
                year, number = quarter.split("-Q")
                return Period.quarter(int(year), int(number))
        elif chosen == "custom":
            start, end = self._valid("start"), self._valid("end")
            if start and end:
                return Period(start, end, f"{start:%d %b %Y} – {end:%d %b %Y}")
        elif chosen in ("7", "30", "90"):
            return Period.last_days(int(chosen))
        return Period.last_days(int(self.DEFAULT_PERIOD))

    def scope(self):
        def whole(name):
            value = self._valid(name)
            return int(value) if value else None

        return Scope(
            period=self.chosen_period(),
            team_id=whole("team"),
            department_id=whole("department"),
            category_id=whole("category"),
            priority=self._valid("priority"),
        )
