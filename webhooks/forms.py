from django import forms
from django.core.validators import URLValidator

from .models import TARGET_URL_INVALID, EventType, Webhook


class WebhookForm(forms.ModelForm):
    """Name, address, events and the active flag; the secret is the server's, never typed in."""

    target_url = forms.URLField(
        label="Target URL",
        max_length=500,
        assume_scheme="https",
        validators=[URLValidator(schemes=["http", "https"], message=TARGET_URL_INVALID)],
        error_messages={"invalid": TARGET_URL_INVALID},
        widget=forms.URLInput(attrs={"placeholder": "https://erp.example.com/hooks/servicedesk"}),
        help_text="Where the desk POSTs the events: an http:// or https:// address.",
    )
    events = forms.MultipleChoiceField(
        choices=EventType.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="The events POSTed to this address.",
        error_messages={"required": "Choose at least one event."},
    )

    class Meta:
        model = Webhook
        fields = ["name", "target_url", "events", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance.pk and not self.initial.get("events"):
            self.initial["events"] = list(EventType.values)  # a new webhook offers every event
