from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone

from requests_app.forms import AttachmentsField


class ApiTokenForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, help_text="What will use it, e.g. “Power BI report”.")
    valid_until = forms.DateField(
        label="Valid until",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The last day it works (your time zone). Empty: until you revoke it.",
    )

    def clean_valid_until(self):
        day = self.cleaned_data.get("valid_until")
        if day is not None and day < timezone.localdate():
            raise forms.ValidationError("This day has passed; choose today or later, or leave it empty.")
        return day

    def expires_at(self):
        """The first instant the token no longer works: midnight after its last day."""
        day = self.cleaned_data.get("valid_until")
        return None if day is None else timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


class AttachmentUploadForm(forms.Form):
    """Files on their own, with the checks of every upload (requests_app.forms.AttachmentsField)."""

    files = AttachmentsField(required=True)
    is_internal = forms.BooleanField(required=False)
