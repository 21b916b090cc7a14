import zoneinfo

from crispy_forms.bootstrap import InlineRadios
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Layout
from django import forms
from django.conf import settings

from .models import ActionItemStatus, NotificationKind


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


# --- Internal customer relations -----------------------------------------------------------------

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DATETIME_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def _people():
    from django.contrib.auth import get_user_model

    return (
        get_user_model()
        .objects.filter(is_active=True)
        .select_related("membership__department")
        .order_by("first_name", "last_name", "username")
    )


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, user):
        department = getattr(getattr(user, "membership", None), "department", None)
        name = user.get_full_name() or user.username
        return f"{name} ({department})" if department else name


class PeopleChoiceField(forms.ModelMultipleChoiceField):
    label_from_instance = PersonChoiceField.label_from_instance


class ServiceAgreementForm(forms.Form):
    policies = forms.ModelMultipleChoiceField(
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every active policy applies, as for any department.",
    )
    deviations = forms.CharField(
        label="Agreed deviations", required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=5000
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)
    review_on = forms.DateField(label="Review date", widget=DATE_INPUT)
    change_note = forms.CharField(
        label="What changed", max_length=200, required=False, help_text="Kept with this version in the history."
    )

    def __init__(self, *args, **kwargs):
        from slas.models import SlaPolicy

        super().__init__(*args, **kwargs)
        self.fields["policies"].queryset = SlaPolicy.objects.active().order_by("is_default", "position", "name")


class MeetingScheduleForm(forms.Form):
    every_months = forms.TypedChoiceField(
        label="Meets", coerce=int, choices=[(1, "Monthly"), (3, "Quarterly"), (6, "Twice a year"), (12, "Yearly")]
    )
    title = forms.CharField(max_length=100, initial="Service review")
    first_at = forms.DateTimeField(
        label="Next meeting",
        required=False,
        widget=DATETIME_INPUT,
        help_text="Planned now unless a meeting is already upcoming; later ones follow the schedule.",
    )


class MeetingForm(forms.Form):
    title = forms.CharField(max_length=150)
    starts_at = forms.DateTimeField(label="Date and time", widget=DATETIME_INPUT)
    attendees = PeopleChoiceField(queryset=None, required=False, widget=forms.SelectMultiple(attrs={"size": 8}))
    agenda = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}), max_length=10000)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["attendees"].queryset = _people()


class MeetingMinutesForm(MeetingForm):
    minutes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 6}), max_length=20000)
    decisions = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=10000)


class PublishOutcomesForm(forms.Form):
    summary = forms.CharField(
        label="Outcome summary",
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=5000,
        help_text="Shown on the department page and sent to every member of the department.",
    )


class ActionItemForm(forms.Form):
    title = forms.CharField(label="Action", max_length=200)
    owner = PersonChoiceField(queryset=None)
    due_on = forms.DateField(label="Due", widget=DATE_INPUT)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = _people()


class ActionItemStatusForm(forms.Form):
    status = forms.ChoiceField(choices=ActionItemStatus.choices)


# --- Satisfaction ---------------------------------------------------------------------------------


class SurveyForm(forms.Form):
    rating = forms.TypedChoiceField(
        label="How satisfied are you with how Procurement handled this request?",
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose a rating from 1 to 5.", "invalid_choice": "Choose a rating from 1 to 5."},
    )
    comment = forms.CharField(
        label="Comment (optional)",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What went well, what should change.",
    )

    def __init__(self, *args, **kwargs):
        from .surveys import RATINGS

        super().__init__(*args, **kwargs)
        self.fields["rating"].choices = [(value, f"{value} – {label}") for value, label in RATINGS.items()]


class FollowUpCloseForm(forms.Form):
    note = forms.CharField(
        label="What was done",
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The requester sees this note.",
        error_messages={"required": "Write what was done before closing the follow-up."},
    )


class RelationshipScheduleForm(forms.Form):
    every_months = forms.TypedChoiceField(label="Ask the department's staff", coerce=int, choices=[])
    next_on = forms.DateField(label="Next round opens on", widget=DATE_INPUT)

    def __init__(self, *args, **kwargs):
        from .models import RELATIONSHIP_INTERVALS

        super().__init__(*args, **kwargs)
        self.fields["every_months"].choices = RELATIONSHIP_INTERVALS


class RelationshipAnswerForm(forms.Form):
    """One 1–5 field per fixed question, then an optional comment."""

    comment = forms.CharField(
        label="Anything else? (optional)", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, **kwargs):
        from .models import RELATIONSHIP_QUESTIONS

        super().__init__(*args, **kwargs)
        scale = [(1, "1 – disagree"), (2, "2"), (3, "3"), (4, "4"), (5, "5 – agree")]
        questions = {
            name: forms.TypedChoiceField(
                label=text,
                coerce=int,
                choices=scale,
                widget=forms.RadioSelect,
                error_messages={"required": "Choose from 1 to 5.", "invalid_choice": "Choose from 1 to 5."},
            )
            for name, text in RELATIONSHIP_QUESTIONS
        }
        self.fields = {**questions, **self.fields}
        # The 1–5 scale on one line per question (rendered with {% crispy form %}, inside the page's form).
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(*[InlineRadios(name) for name in questions], "comment")
