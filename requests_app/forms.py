import uuid
from datetime import datetime, time, timedelta
from urllib.parse import urlencode

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Div, Field, Layout, Row, Submit
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from stakeholders.models import Department
from stakeholders.roles import WORK

from . import permissions
from .attachments import ALLOWED_TYPES, attachment_validate
from .models import (
    OPEN_STATUSES,
    RULE_CONDITIONS,
    BuyerTeam,
    Category,
    Currency,
    Priority,
    ProcurementRequest,
    RoutingRule,
    Status,
)
from .queue import BULK_MAX, SLA_STATES

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

    def request_fields(self):
        """The cleaned request fields, as procurement_request_submit's keyword arguments (the portal and
        the API file requests through this form)."""
        return {name: self.cleaned_data[name] for name in self._meta.fields}

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


class ActionForm(forms.Form):
    """An action on one request. `version` is the request's version when the form was rendered: the
    service refuses the action if the request changed since (a client that sends none is not checked)."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)

    @property
    def one_click(self):
        """Nothing to fill in: the action is a single button (an optional note is left out)."""
        visible = [field for field in self.visible_fields() if field.name != "note" or field.field.required]
        return not visible


class NoteForm(ActionForm):
    """The optional (or required) reason that comes with a status action."""

    note = forms.CharField(label="Note", required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)


class ReasonForm(ActionForm):
    note = forms.CharField(label="Reason", widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)


class QuestionForm(ActionForm):
    note = forms.CharField(
        label="Question for the requester", widget=forms.Textarea(attrs={"rows": 2}), max_length=5000
    )


class OrderForm(ActionForm):
    po_number = forms.CharField(label="PO number", max_length=40)
    note = forms.CharField(label="Note", required=False, max_length=5000)


class ReprioritiseForm(ActionForm):
    """Blank keeps the current value; the service refuses a change that changes nothing."""

    priority = forms.ChoiceField(label="Priority", required=False, choices=[("", "Keep as is"), *Priority.choices])
    category = forms.ModelChoiceField(
        label="Category", required=False, queryset=Category.objects.active(), empty_label="Keep as is"
    )
    note = forms.CharField(label="Reason", widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)


class BuyerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, user):
        return user.get_full_name() or user.username


def buyers():
    """Everyone who may be given requests to work, by name."""
    app_label, codename = WORK
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__permissions__codename=codename)
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


def buyer_choices():
    """[(pk as text, name)] of the buyers, from one values query: a select of users built from model
    instances reads them through a server-side cursor and names each in Python."""
    return [
        (str(pk), f"{first} {last}".strip() or username)  # as User.get_full_name() or username
        for pk, first, last, username in buyers().values_list("pk", "first_name", "last_name", "username")
    ]


class AssignForm(ActionForm):
    assignee = BuyerChoiceField(label="Buyer", queryset=get_user_model().objects.none())
    note = forms.CharField(
        label="Reason", required=False, max_length=5000, help_text="Needed when the request already has a buyer."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = buyers()


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


class RoutingRuleForm(forms.ModelForm):
    """A rule's conditions, team and strategy; the default rule shows only its name, team and strategy."""

    class Meta:
        model = RoutingRule
        fields = ["name", *RULE_CONDITIONS, "team", "strategy", "is_active"]
        widgets = {
            "min_value": forms.NumberInput(attrs={"min": "0", "step": "0.01"}),
            "max_value": forms.NumberInput(attrs={"min": "0", "step": "0.01"}),
        }
        labels = {"is_active": "Active", "title_keywords": "Title keywords"}
        help_texts = {"name": "Shown on the request's timeline, e.g. “IT hardware”."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = BuyerTeam.objects.active()
        self.fields["category"].queryset = Category.objects.active()
        self.fields["department"].queryset = Department.objects.active()
        self.fields["currency"].queryset = Currency.objects.filter(is_active=True)
        for field in ("category", "department", "currency"):
            self.fields[field].empty_label = "Any"
        conditions = [
            Row(Column("category", css_class="col-md-4"), Column("department", css_class="col-md-4")),
            Row(
                Column("min_value", css_class="col-md-4"),
                Column("max_value", css_class="col-md-4"),
                Column("currency", css_class="col-md-4"),
            ),
            "title_keywords",
        ]
        if self.instance.is_default:
            for field in (*RULE_CONDITIONS, "is_active"):
                del self.fields[field]
            conditions = [HTML('<p class="text-body-secondary">It takes every request no other rule matches.</p>')]
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Field("name", autofocus=True),
            HTML(
                '<h2 class="h6 mt-3">Conditions <span class="fw-normal text-body-secondary small">'
                "(every one that is set must hold)</span></h2>"
            ),
            *conditions,
            HTML('<h2 class="h6 mt-3">Where it goes</h2>'),
            Row(Column("team", css_class="col-md-6"), Column("strategy", css_class="col-md-6")),
            *([] if self.instance.is_default else ["is_active"]),
        )


class RoutingTryForm(forms.Form):
    """The "Try it" box: a request as it might be filed, to see where routing would send it."""

    title = forms.CharField(label="Title", required=False, max_length=200)
    category = forms.ModelChoiceField(label="Category", queryset=Category.objects.active())
    department = forms.ModelChoiceField(label="Department", queryset=Department.objects.active())
    estimated_value = forms.DecimalField(label="Estimated value", min_value=0, max_digits=14, decimal_places=2)
    currency = forms.ModelChoiceField(label="Currency", queryset=Currency.objects.filter(is_active=True))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].initial = settings.PROCUREMENT_BASE_CURRENCY
        self.helper = FormHelper()
        self.helper.form_method = "get"
        self.helper.disable_csrf = True
        self.helper.layout = Layout(
            "title",
            Row(Column("category", css_class="col-sm-6"), Column("department", css_class="col-sm-6")),
            Row(Column("estimated_value", css_class="col-sm-8"), Column("currency", css_class="col-sm-4")),
            HTML('<button class="btn btn-outline-primary" type="submit" name="try" value="1">Try it</button>'),
        )


class AvailabilityForm(forms.Form):
    """Out of office up to and including a date; the buyer is chosen only by those who may set others'."""

    buyer = BuyerChoiceField(label="Buyer", queryset=get_user_model().objects.none())
    away_until = forms.DateField(
        label="Out of office until",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Up to and including this day; empty means available.",
    )

    def __init__(self, *args, user, choose_buyer, **kwargs):
        super().__init__(*args, **kwargs)
        if choose_buyer:
            self.fields["buyer"].queryset = permissions.availability_subjects(user)
        else:
            del self.fields["buyer"]
        self.helper = FormHelper()
        self.helper.form_tag = False


# The form each action asks for (NoteForm when not listed).
ACTION_FORMS = {
    "reject": ReasonForm,
    "cancel": ReasonForm,
    "reopen": ReasonForm,
    "wait_for_requester": QuestionForm,
    "mark_ordered": OrderForm,
    "assign": AssignForm,
    "reroute": ReasonForm,
    "reprioritise": ReprioritiseForm,
}


def action_form(action, data=None, *, procurement_request=None, **kwargs):
    """The action's form, carrying the request's current version when rendered for a request."""
    initial = {"version": procurement_request.version} if procurement_request is not None else None
    # Several action forms share a page and field names ("note"): prefix the ids, not the names,
    # so that each label and error points at its own field.
    return ACTION_FORMS.get(action, NoteForm)(data, initial=initial, auto_id=f"id_{action}_%s", **kwargs)


def _small(widget):
    widget.attrs.setdefault("class", "form-select form-select-sm" if isinstance(widget, forms.Select) else "")
    if not widget.attrs["class"]:
        widget.attrs["class"] = "form-control form-control-sm"
    return widget


class QueueFilterForm(forms.Form):
    """The queue's filters (GET). Each filter is one field and one rule in RULES; an invalid filter is
    shown as an error and left out, the valid ones still apply."""

    UNASSIGNED = "none"

    q = forms.CharField(label="Search", required=False, max_length=200)
    status = forms.ChoiceField(label="Status", required=False)
    assignee = forms.ChoiceField(label="Buyer", required=False)
    priority = forms.ChoiceField(label="Priority", required=False, choices=[("", "Any priority"), *Priority.choices])
    sla = forms.ChoiceField(label="SLA", required=False)
    department = forms.ChoiceField(label="Department", required=False)
    category = forms.ChoiceField(label="Category", required=False)
    team = forms.ChoiceField(label="Team", required=False)
    value_min = forms.DecimalField(label="Value from (EUR)", required=False, min_value=0, decimal_places=2)
    value_max = forms.DecimalField(label="Value to (EUR)", required=False, min_value=0, decimal_places=2)
    created_from = forms.DateField(label="Filed from", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    created_to = forms.DateField(label="Filed until", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    # The dashboards' "completed in the period" figures drill down to these.
    completed_from = forms.DateField(
        label="Completed from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    completed_to = forms.DateField(
        label="Completed until", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    # The dashboards' first-response figures: the current first-response cycle stopped with a verdict then.
    responded_from = forms.DateField(
        label="First response from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    responded_to = forms.DateField(
        label="First response until", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    # The REST API's "changed since" (e.g. a report that syncs what moved since its last run).
    updated_from = forms.DateField(label="Updated from", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    updated_to = forms.DateField(label="Updated until", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    # The dashboard's early warning: open requests due by then that are not overdue yet.
    due_by = forms.DateTimeField(
        label="Due by (not yet overdue)", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    OPEN = "open"
    RULES = {
        "status": lambda value: (
            Q(status__in=sorted(OPEN_STATUSES)) if value == QueueFilterForm.OPEN else Q(status=value)
        ),
        "assignee": lambda value: (
            Q(assignee__isnull=True) if value == QueueFilterForm.UNASSIGNED else Q(assignee_id=int(value))
        ),
        "priority": lambda value: Q(priority=value),
        "sla": lambda value: SLA_STATES[value][1],
        "department": lambda value: Q(department_id=int(value)),
        "category": lambda value: Q(category_id=int(value)),
        "team": lambda value: Q(team_id=int(value)),
        "value_min": lambda value: Q(estimated_value_base__gte=value),
        "value_max": lambda value: Q(estimated_value_base__lte=value),
        "created_from": lambda value: Q(created_at__gte=_local_midnight(value)),
        "created_to": lambda value: Q(created_at__lt=_local_midnight(value + timedelta(days=1))),
        "due_by": lambda value: Q(sla_due_at__lte=value, sla_breached=False),
        "responded_from": lambda value: _first_response_stopped(stopped_at__gte=_local_midnight(value)),
        "responded_to": lambda value: _first_response_stopped(
            stopped_at__lt=_local_midnight(value + timedelta(days=1))
        ),
        "updated_from": lambda value: Q(updated_at__gte=_local_midnight(value)),
        "updated_to": lambda value: Q(updated_at__lt=_local_midnight(value + timedelta(days=1))),
        "completed_from": lambda value: Q(completed_at__gte=_local_midnight(value)),
        "completed_to": lambda value: Q(completed_at__lt=_local_midnight(value + timedelta(days=1))),
    }
    # Shown in the first row; the rest under "More filters".
    MAIN = ("q", "status", "assignee", "priority", "sla")

    def __init__(self, *args, open_only=True, **kwargs):
        super().__init__(*args, **kwargs)
        # The buyers, loaded once on first use; the page's bulk-assign select shows the same list (BulkActionForm).
        self.buyers = _once(buyer_choices)
        statuses = [(status, Status(status).label) for status in Status if status in OPEN_STATUSES or not open_only]
        # "Any open status" only where closed ones are listed too (the other views are open-only).
        open_choice = [] if open_only else [(self.OPEN, "Any open status")]
        self.fields["status"].choices = [("", "Any status"), *open_choice, *statuses]
        self.fields["sla"].choices = [("", "Any SLA state"), *((key, label) for key, (label, _) in SLA_STATES.items())]
        # Loaded once, when the form is first validated or rendered.
        self.fields["assignee"].choices = _once(
            lambda: [("", "Anyone"), (self.UNASSIGNED, "Unassigned"), *self.buyers()]
        )
        dimension_choices_set(self)
        self.fields["q"].widget.attrs.update(
            id="queue-search", placeholder="Search reference, title, description, comments…", type="search"
        )
        for field in self.fields.values():
            _small(field.widget)

    def clean(self):
        data = super().clean()
        low, high = data.get("value_min"), data.get("value_max")
        if low is not None and high is not None and low > high:
            self.add_error("value_max", "Must not be below the lower value.")
        start, end = data.get("created_from"), data.get("created_to")
        if start and end and start > end:
            self.add_error("created_to", "Must not be before the start date.")
        start, end = data.get("responded_from"), data.get("responded_to")
        if start and end and start > end:
            self.add_error("responded_to", "Must not be before the start date.")
        for start_name, end_name in (("completed_from", "completed_to"), ("updated_from", "updated_to")):
            start, end = data.get(start_name), data.get(end_name)
            if start and end and start > end:
                self.add_error(end_name, "Must not be before the start date.")
        return data

    def active(self):
        """{field: cleaned value} of the filters that apply (empty when none)."""
        if not self.is_bound:
            return {}
        self.is_valid()  # cleaned_data then holds the valid fields; errors hold the others
        return {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}

    def apply(self, queryset, *, full_text=True):
        """Narrow the queryset by the valid filters. `full_text=False` searches the reference, title and
        description only: the full-text document holds internal notes, which only Procurement may search."""
        for name, value in self.active().items():
            if name == "q":
                queryset = queryset.text_search(value) if full_text else queryset.search(value)
            else:
                queryset = queryset.filter(self.RULES[name](value))
        return queryset

    def querystring(self):
        """The applied filters as a query string, as typed (for links, pages and saved views)."""
        return urlencode({name: self.data[name] for name in self.active() if name in self.data})

    def main_fields(self):
        return [self[name] for name in self.MAIN]

    def more_fields(self):
        return [self[name] for name in self.fields if name not in self.MAIN]

    @property
    def more_active(self):
        return any(name not in self.MAIN for name in self.active())


def dimension_choices_set(form):
    """Department, category and team choices ("any" first) on a filter form, each loaded on first use;
    shared by the queue's filters and the SLA dashboard's, so that both offer the same values."""
    form.fields["department"].choices = _once(
        lambda: [
            ("", "Any department"),
            *((str(pk), name) for pk, name in Department.objects.order_by("name").values_list("pk", "name")),
        ]
    )
    form.fields["category"].choices = _once(
        lambda: [("", "Any category"), *((str(pk), name) for pk, name in Category.objects.values_list("pk", "name"))]
    )
    form.fields["team"].choices = _once(
        lambda: [("", "Any team"), *((str(pk), name) for pk, name in BuyerTeam.objects.values_list("pk", "name"))]
    )


def _once(load):
    """Choices loaded on first use and kept: a callable's choices are otherwise loaded at every use."""
    loaded = []

    def choices():
        if not loaded:
            loaded.append(load())
        return loaded[0]

    return choices


def _first_response_stopped(**when):
    """Requests whose current first-response cycle stopped with a verdict (met or not) `when`; a request
    has one current cycle per metric, so two of these conditions speak of the same cycle."""
    from slas.models import Metric, SlaClock

    return Q(
        Exists(
            SlaClock.objects.filter(
                procurement_request=OuterRef("pk"),
                metric=Metric.FIRST_RESPONSE,
                is_current=True,
                met__isnull=False,
                **when,
            )
        )
    )


def _local_midnight(day):
    return timezone.make_aware(datetime.combine(day, time.min))


class RowVersionsField(forms.Field):
    """The selected rows of a queue page: each checkbox sends `REFERENCE:VERSION`. Cleans to
    {reference: version}."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        rows = {}
        for item in value or []:
            reference, _, version = str(item).rpartition(":")
            if not reference or not version.isdigit():
                raise ValidationError("The selection is not valid; reload the page.")
            rows[reference] = int(version)
        return rows

    def validate(self, value):
        if not value:
            raise ValidationError("Select at least one request.")
        if len(value) > BULK_MAX:
            raise ValidationError(f"Select at most {BULK_MAX} requests at a time.")


class BulkActionForm(forms.Form):
    rows = RowVersionsField()
    action = forms.ChoiceField(label="Action")
    assignee = BuyerChoiceField(label="Buyer", required=False, queryset=get_user_model().objects.none())
    note = forms.CharField(label="Note", required=False, max_length=5000)

    def __init__(self, *args, actions, buyers_loaded=None, **kwargs):
        """`actions`: [(action, label)] the user may apply in bulk; `buyers_loaded`: a loader of buyer_choices()
        already on the page (the filter form's), so that the list is read once."""
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "Choose an action…"), *actions]
        self.fields["assignee"].queryset = buyers()  # validates the choice (one query, on a POST only)
        # What the select shows, loaded only when it is rendered.
        buyers_loaded = buyers_loaded or buyer_choices
        self.fields["assignee"].choices = _once(lambda: [("", "Buyer…"), *buyers_loaded()])
        for name in ("action", "assignee", "note"):
            _small(self.fields[name].widget)
        self.fields["note"].widget.attrs["placeholder"] = "Note or reason"

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action == "assign" and not data.get("assignee"):
            self.add_error("assignee", "Choose the buyer.")
        if action and ACTION_FORMS.get(action, NoteForm).base_fields["note"].required and not data.get("note"):
            self.add_error("note", "Please give a reason.")
        return data


class SavedQueueViewForm(forms.Form):
    name = forms.CharField(label="Name", max_length=60)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs.update({"class": "form-control form-control-sm", "placeholder": "Name"})


class ExpectedDateForm(forms.Form):
    expected_on = forms.DateField(label="Expected by", widget=forms.DateInput(attrs={"type": "date"}))
    note = forms.CharField(label="Note for the requester", required=False, max_length=2000)


def apply_service_errors(form, error):
    """Show a service's ValidationError beside the field it names, or above the form."""
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)


class WatcherForm(forms.Form):
    """Add a colleague who can see the request as a follower."""

    user = forms.ModelChoiceField(label="Add a colleague", queryset=get_user_model().objects.none())

    def __init__(self, *args, procurement_request, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = permissions.watcher_candidates(procurement_request)
        self.fields["user"].label_from_instance = lambda user: user.get_full_name() or user.username
