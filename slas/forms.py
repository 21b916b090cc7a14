"""Admin forms for calendars: the first version, a new version, a holiday import. They clean input only;
the admin views pass it to the services in `slas/calendars.py`."""

import json
from datetime import timedelta

from django import forms
from django.contrib.admin import widgets
from django.core.exceptions import ValidationError
from django.utils import timezone

from .calendars import PUBLIC, calendar_spec_normalise
from .models import BusinessCalendar

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
        moment = super().clean(value)
        # A minute's grace for the time the form took to fill in; the service still refuses older moments.
        if moment is not None and moment < timezone.now() - timedelta(minutes=1):
            raise ValidationError(
                "A new version cannot start in the past: time already counted is not rewritten.", code="past"
            )
        if moment is not None and moment < timezone.now():
            return None
        return moment


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
