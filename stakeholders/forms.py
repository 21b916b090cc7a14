import zoneinfo

from django import forms
from django.conf import settings

from .models import NotificationKind


class PersonalSettingsForm(forms.Form):
    language = forms.ChoiceField(
        label="Language",
        required=False,
        help_text="The pages and every notice you receive, in the app and by e-mail. Empty: the desk's language.",
    )
    time_zone = forms.ChoiceField(
        label="Time zone",
        required=False,
        help_text="Due times, the timeline and e-mails use it. Empty: the desk's time zone.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        desk_language = dict(settings.LANGUAGES).get(settings.LANGUAGE_CODE, settings.LANGUAGE_CODE)
        self.fields["language"].choices = [("", f"The desk's language ({desk_language})"), *settings.LANGUAGES]
        desk = f"The desk's time zone ({settings.TIME_ZONE})"
        self.fields["time_zone"].choices = [("", desk)] + [
            (zone, zone.replace("_", " ")) for zone in sorted(zoneinfo.available_timezones()) if "/" in zone
        ]


class NotificationPreferencesForm(forms.Form):
    email_kinds = forms.MultipleChoiceField(
        label="Also send me an e-mail for",
        choices=NotificationKind.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Every notice appears under the bell in any case. Unticked kinds are not e-mailed to you.",
    )
