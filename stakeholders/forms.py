from django import forms

from .models import NotificationKind


class NotificationPreferencesForm(forms.Form):
    email_kinds = forms.MultipleChoiceField(
        label="Also send me an e-mail for",
        choices=NotificationKind.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Every notice appears under the bell in any case. Unticked kinds are not e-mailed to you.",
    )
