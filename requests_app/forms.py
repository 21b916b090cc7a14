import uuid

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Div, Field, Layout, Row, Submit
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone

from stakeholders.roles import WORK

from .attachments import ALLOWED_TYPES, attachment_validate
from .models import Category, Currency, Priority, ProcurementRequest, Status

ACCEPT = ",".join(f".{extension}" for extension in sorted(ALLOWED_TYPES))


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class AttachmentsField(forms.FileField):
    """Several files in one input, each checked for size, type and content."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ACCEPT}))
        kwargs.setdefault("required", False)
        kwargs.setdefault(
            "help_text",
            f"Up to {settings.ATTACHMENTS_PER_UPLOAD} files, "
            f"{settings.ATTACHMENT_MAX_BYTES // (1024 * 1024)} MB each: PDF, images, Office documents, "
            "text, CSV, ZIP, e-mails.",
        )
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = [item for item in (data if isinstance(data, list | tuple) else [data]) if item]
        if len(files) > settings.ATTACHMENTS_PER_UPLOAD:
            raise ValidationError(f"Attach at most {settings.ATTACHMENTS_PER_UPLOAD} files at a time.")
        errors = []
        for uploaded in files:
            super().clean(uploaded, initial)
            try:
                attachment_validate(uploaded)
            except ValidationError as error:
                errors.extend(error.messages)
        if errors:
            raise ValidationError(errors)
        return files


class ProcurementRequestForm(forms.ModelForm):
    # Missing only for clients that bypass the page; they get a fresh token (no duplicate guard).
    submission_token = forms.UUIDField(widget=forms.HiddenInput, required=False)
    attachments = AttachmentsField(label="Attachments")

    class Meta:
        model = ProcurementRequest
        fields = [
            "title",
            "description",
            "category",
            "priority",
            "estimated_value",
            "currency",
            "cost_centre",
            "needed_by",
            "suggested_supplier",
            "is_confidential",
        ]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 5}),
            "needed_by": forms.DateInput(attrs={"type": "date"}),
            "estimated_value": forms.NumberInput(attrs={"min": "0", "step": "0.01"}),
        }
        labels = {"is_confidential": "Confidential", "estimated_value": "Estimated value"}
        help_texts = {
            "description": "What you need, why, quantities and any specification.",
            "needed_by": "When it must be available to you.",
            "suggested_supplier": "Optional: a supplier you know or prefer.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = Category.objects.active()
        self.fields["currency"].queryset = Currency.objects.filter(is_active=True)
        self.fields["currency"].initial = settings.PROCUREMENT_BASE_CURRENCY
        self.fields["priority"].initial = Priority.NORMAL
        if not self.is_bound:
            self.initial.setdefault("submission_token", uuid.uuid4())
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            "submission_token",
            Field("title", autofocus=True),
            "description",
            Row(Column("category", css_class="col-md-6"), Column("priority", css_class="col-md-6")),
            # The promised targets for the chosen category and priority, fetched without a reload.
            HTML(
                '<div class="mb-3" aria-live="polite" hx-get="{% url \'slas:promise\' %}" '
                'hx-trigger="load, change from:#id_category, change from:#id_priority" '
                'hx-include="#id_category, #id_priority"></div>'
            ),
            Row(
                Column("estimated_value", css_class="col-md-4"),
                Column("currency", css_class="col-md-2"),
                Column("cost_centre", css_class="col-md-3"),
                Column("needed_by", css_class="col-md-3"),
            ),
            "suggested_supplier",
            "is_confidential",
            "attachments",
        )

    def clean_submission_token(self):
        return self.cleaned_data.get("submission_token") or uuid.uuid4()

    def clean_needed_by(self):
        needed_by = self.cleaned_data.get("needed_by")
        if needed_by and needed_by < timezone.localdate():
            raise ValidationError("The needed-by date cannot be in the past.")
        return needed_by

    def clean_title(self):
        title = self.cleaned_data["title"].strip()
        if not title:
            raise ValidationError("Give the request a title.")
        return title


class CommentForm(forms.Form):
    body = forms.CharField(label="Message", widget=forms.Textarea(attrs={"rows": 3}), max_length=10000)
    is_internal = forms.BooleanField(
        label="Internal note (Procurement only)", required=False, help_text="The requester will not see it."
    )
    attachments = AttachmentsField(label="Attach files")

    def __init__(self, *args, allow_internal=False, **kwargs):
        super().__init__(*args, **kwargs)
        if not allow_internal:
            del self.fields["is_internal"]
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            "body",
            Row(
                Column("attachments", css_class="col-md-8"),
                Column(*(["is_internal"] if allow_internal else []), css_class="col-md-4 pt-md-4"),
            ),
            Div(Submit("send", "Send", css_class="btn-primary"), css_class="text-end"),
        )


class NoteForm(forms.Form):
    """The optional (or required) reason that comes with a status action."""

    note = forms.CharField(label="Note", required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)


class ReasonForm(forms.Form):
    note = forms.CharField(label="Reason", widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)


class QuestionForm(forms.Form):
    note = forms.CharField(
        label="Question for the requester", widget=forms.Textarea(attrs={"rows": 2}), max_length=5000
    )


class OrderForm(forms.Form):
    po_number = forms.CharField(label="PO number", max_length=40)
    note = forms.CharField(label="Note", required=False, max_length=5000)


class ReprioritiseForm(forms.Form):
    """Blank keeps the current value; the service refuses a change that changes nothing."""

    priority = forms.ChoiceField(label="Priority", required=False, choices=[("", "Keep as is"), *Priority.choices])
    category = forms.ModelChoiceField(
        label="Category", required=False, queryset=Category.objects.active(), empty_label="Keep as is"
    )
    note = forms.CharField(label="Reason", widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)


class BuyerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, user):
        return user.get_full_name() or user.username


class AssignForm(forms.Form):
    assignee = BuyerChoiceField(label="Buyer", queryset=get_user_model().objects.none())
    note = forms.CharField(label="Reason", required=False, max_length=5000)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        app_label, codename = WORK
        self.fields["assignee"].queryset = (
            get_user_model()
            .objects.filter(is_active=True, groups__permissions__codename=codename)
            .distinct()
            .order_by("first_name", "last_name", "username")
        )


class RequestFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=200)
    status = forms.ChoiceField(label="Status", required=False)
    category = forms.ModelChoiceField(label="Category", required=False, queryset=Category.objects.all())
    priority = forms.ChoiceField(label="Priority", required=False, choices=[("", "Any priority"), *Priority.choices])

    OPEN = "open"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", "Any status"), (self.OPEN, "Open"), *Status.choices]
        self.fields["category"].empty_label = "Any category"
        self.helper = FormHelper()
        self.helper.form_method = "get"
        self.helper.form_class = "row g-2 align-items-end mb-3"
        self.helper.disable_csrf = True
        self.helper.form_show_labels = False
        self.helper.layout = Layout(
            Div(Field("q", placeholder="Reference, title or description"), css_class="col-md-4"),
            Div("status", css_class="col-md-2"),
            Div("category", css_class="col-md-2"),
            Div("priority", css_class="col-md-2"),
            Div(
                HTML(
                    '<button type="submit" class="btn btn-outline-primary"><i class="bi bi-funnel"></i> Filter</button>'
                    ' <a class="btn btn-link" href="?">Reset</a>'
                ),
                css_class="col-md-2 mb-3",
            ),
        )

    def apply(self, queryset):
        """Narrow the queryset by the valid filters; invalid ones are ignored (and shown as errors)."""
        if not self.is_valid():
            return queryset
        data = self.cleaned_data
        queryset = queryset.search(data.get("q"))
        if data.get("status") == self.OPEN:
            queryset = queryset.open()
        elif data.get("status"):
            queryset = queryset.filter(status=data["status"])
        if data.get("category"):
            queryset = queryset.filter(category=data["category"])
        if data.get("priority"):
            queryset = queryset.filter(priority=data["priority"])
        return queryset


class ExpectedDateForm(forms.Form):
    expected_on = forms.DateField(label="Expected by", widget=forms.DateInput(attrs={"type": "date"}))
    note = forms.CharField(label="Note for the requester", required=False, max_length=2000)
