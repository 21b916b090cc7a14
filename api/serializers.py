"""What the API reads and writes, as JSON. Writes are validated by the portal's own forms (see
`form_serializer`): the serializers here only type the body for the schema and refuse wrong types."""

from django import forms
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from requests_app.models import Attachment, Category, ProcurementRequest, RequestEvent
from slas.forms import GOAL_FIELDS
from slas.models import SlaGoal, SlaPolicy
from stakeholders.models import Department, Notification

# --- Writes: typed from the portal's forms --------------------------------------------------------------


def _field_for(form_field):
    """The serializer field that types a form field's value (the form then applies its own rules)."""
    common = {"required": form_field.required, "help_text": str(form_field.help_text or "") or None}
    if form_field.label:
        common["label"] = str(form_field.label)
    if isinstance(form_field, forms.ModelChoiceField):
        return serializers.PrimaryKeyRelatedField(queryset=form_field.queryset, allow_null=False, **common)
    if isinstance(form_field, forms.ChoiceField):
        choices = [(value, label) for value, label in form_field.choices if value != ""]
        return serializers.ChoiceField(choices=choices, allow_blank=not form_field.required, **common)
    if isinstance(form_field, forms.DecimalField):
        return serializers.DecimalField(
            max_digits=form_field.max_digits,
            decimal_places=form_field.decimal_places,
            min_value=form_field.min_value,
            **common,
        )
    if isinstance(form_field, forms.IntegerField):
        return serializers.IntegerField(min_value=form_field.min_value, allow_null=True, **common)
    if isinstance(form_field, forms.DateField):
        return serializers.DateField(allow_null=not form_field.required, **common)
    if isinstance(form_field, forms.BooleanField):
        return serializers.BooleanField(**{**common, "required": False})
    if isinstance(form_field, forms.CharField):
        return serializers.CharField(
            max_length=form_field.max_length, allow_blank=not form_field.required, trim_whitespace=False, **common
        )
    raise TypeError(f"No serializer field for {type(form_field).__name__}")


def form_serializer(form_class, name, *, exclude=(), extra=None):
    """A serializer class with one typed field per field of `form_class` (for the schema and types)."""
    form = form_class()
    fields = {field_name: _field_for(field) for field_name, field in form.fields.items() if field_name not in exclude}
    return type(name, (serializers.Serializer,), {**fields, **(extra or {})})


# --- Reads ---------------------------------------------------------------------------------------------


class PersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return user.get_full_name() or user.username


class CategoryRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class DepartmentRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()


class TeamRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class SlaSummarySerializer(serializers.Serializer):
    due_at = serializers.DateTimeField(
        source="sla_due_at", allow_null=True, help_text="The earliest due time of the running, unpaused clocks."
    )
    threshold = serializers.IntegerField(source="sla_threshold", help_text="The highest warning reached, in %.")
    breached = serializers.BooleanField(source="sla_breached")


class RequestSerializer(serializers.ModelSerializer):
    """A request as lists show it."""

    url = serializers.SerializerMethodField()
    category = CategoryRefSerializer()
    department = DepartmentRefSerializer()
    requester = PersonSerializer()
    assignee = PersonSerializer(allow_null=True)
    team = TeamRefSerializer(allow_null=True)
    currency = serializers.CharField(source="currency_id")
    sla = SlaSummarySerializer(source="*")

    class Meta:
        model = ProcurementRequest
        fields = [
            "reference",
            "url",
            "title",
            "status",
            "priority",
            "category",
            "department",
            "requester",
            "assignee",
            "team",
            "estimated_value",
            "currency",
            "estimated_value_base",
            "is_confidential",
            "created_at",
            "updated_at",
            "completed_at",
            "sla",
            "version",
        ]

    def get_url(self, procurement_request) -> str:
        return reverse("api:request", kwargs={"reference": procurement_request.reference})


class ClockSerializer(serializers.Serializer):
    metric = serializers.CharField(source="metric_label")
    state = serializers.ChoiceField(choices=["running", "paused", "breached", "met", "missed", "stopped"])
    goal = serializers.CharField(source="goal_text", help_text="In business time, e.g. “8 h”.")
    due_at = serializers.DateTimeField(allow_null=True)
    remaining = serializers.CharField(source="remaining_text")
    percent = serializers.IntegerField(help_text="Share of the goal used.")
    explanation = serializers.CharField()
    cycle = serializers.IntegerField()
    ever_breached = serializers.BooleanField()
    policy = serializers.CharField(source="policy_name")


class CommentRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    body = serializers.CharField()


class EventSerializer(serializers.ModelSerializer):
    actor = PersonSerializer(allow_null=True)
    assignee = PersonSerializer(allow_null=True)
    comment = CommentRefSerializer(allow_null=True)
    attachment = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = RequestEvent
        fields = [
            "id",
            "kind",
            "created_at",
            "actor",
            "from_status",
            "to_status",
            "note",
            "assignee",
            "comment",
            "attachment",
            "is_internal",
        ]


class AttachmentSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="original_name")
    uploaded_by = PersonSerializer()
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Attachment
        fields = ["id", "name", "content_type", "size", "is_internal", "created_at", "uploaded_by", "download_url"]

    def get_download_url(self, attachment) -> str:
        return reverse(
            "api:attachment_download",
            kwargs={"reference": attachment.procurement_request.reference, "attachment_id": attachment.pk},
        )


class RequestDetailSerializer(RequestSerializer):
    """A request as its page shows it: details, SLA clocks, timeline, attachments, and what you may do."""

    clocks = ClockSerializer(many=True, source="api_clocks")
    timeline = EventSerializer(many=True, source="api_timeline")
    attachments = AttachmentSerializer(many=True, source="api_attachments")
    actions = serializers.ListField(
        child=serializers.CharField(),
        source="api_actions",
        help_text="The lifecycle actions you may take now: each is POST …/{reference}/{action}/ (with hyphens).",
    )

    class Meta(RequestSerializer.Meta):
        fields = [
            *RequestSerializer.Meta.fields,
            "description",
            "cost_centre",
            "needed_by",
            "suggested_supplier",
            "po_number",
            "expected_on",
            "requires_approval",
            "clocks",
            "timeline",
            "attachments",
            "actions",
        ]


class CommentResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    body = serializers.CharField()
    is_internal = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    author = PersonSerializer()


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "name", "description", "approval_threshold"]


class DepartmentSerializer(serializers.ModelSerializer):
    head = PersonSerializer(allow_null=True)

    class Meta:
        model = Department
        fields = ["id", "code", "name", "head", "is_procurement"]


class TeamSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    lead = PersonSerializer(allow_null=True)
    members = PersonSerializer(many=True, source="member_list")


class GoalSerializer(serializers.ModelSerializer):
    category = CategoryRefSerializer(allow_null=True)
    department = DepartmentRefSerializer(allow_null=True)
    calendar = serializers.CharField(source="calendar.name")

    class Meta:
        model = SlaGoal
        fields = ["id", *GOAL_FIELDS]


class SlaPolicySerializer(serializers.ModelSerializer):
    goals = GoalSerializer(many=True)

    class Meta:
        model = SlaPolicy
        fields = ["id", "name", "description", "position", "is_default", "goals"]


class BenchmarkSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Completed requests in the last 90 days.")
    met_percent = serializers.IntegerField(allow_null=True)
    median = serializers.CharField(source="median_text")
    p90 = serializers.CharField(source="p90_text")


class CatalogueGoalSerializer(serializers.Serializer):
    goal = GoalSerializer()
    applies_to = serializers.CharField()
    first_response = serializers.CharField(help_text="The target in business words.")
    resolution = serializers.CharField()
    first_response_benchmark = BenchmarkSerializer(source="benchmarks.first_response")
    resolution_benchmark = BenchmarkSerializer(source="benchmarks.resolution")


class CataloguePolicySerializer(serializers.Serializer):
    id = serializers.IntegerField(source="policy.id")
    name = serializers.CharField(source="policy.name")
    description = serializers.CharField(source="policy.description")
    goals = CatalogueGoalSerializer(many=True, source="rows")


class NotificationSerializer(serializers.ModelSerializer):
    headline = serializers.SerializerMethodField()
    reference = serializers.SerializerMethodField()
    path = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "headline", "reference", "path", "created_at", "read_at"]

    def get_headline(self, notification) -> str:
        return notification.payload.get("headline", notification.subject)

    def get_reference(self, notification) -> str | None:
        return notification.payload.get("reference")

    def get_path(self, notification) -> str:
        return notification.url


class MeSerializer(PersonSerializer):
    email = serializers.EmailField()
    department = serializers.SerializerMethodField()
    roles = serializers.SerializerMethodField()

    @extend_schema_field(DepartmentRefSerializer(allow_null=True))
    def get_department(self, user):
        membership = getattr(user, "membership", None)
        return DepartmentRefSerializer(membership.department).data if membership else None

    def get_roles(self, user) -> list[str]:
        return sorted(group.name for group in user.groups.all())


# --- The manager dashboard's figures (slas/dashboard.py) ------------------------------------------------


class PeriodSerializer(serializers.Serializer):
    first_day = serializers.DateField()
    last_day = serializers.DateField()
    label = serializers.CharField()


class AttainmentSerializer(serializers.Serializer):
    """Completed cycles (SLA-SEMANTICS): how many, the share met, business hours taken."""

    first_response_cycles = serializers.IntegerField(source="fr_count")
    first_response_met_percent = serializers.FloatField(source="fr_met_percent", allow_null=True)
    first_response_median_hours = serializers.FloatField(source="fr_median_hours", allow_null=True)
    resolution_cycles = serializers.IntegerField(source="res_count")
    resolution_met_percent = serializers.FloatField(source="res_met_percent", allow_null=True)
    resolution_median_hours = serializers.FloatField(source="res_median_hours", allow_null=True)
    resolution_p90_hours = serializers.FloatField(source="res_p90_hours", allow_null=True)


class AgeBucketSerializer(serializers.Serializer):
    label = serializers.CharField()
    count = serializers.IntegerField()


class BacklogSerializer(serializers.Serializer):
    open = serializers.IntegerField()
    at_risk = serializers.IntegerField()
    breached = serializers.IntegerField()
    ages = serializers.SerializerMethodField()

    @extend_schema_field(AgeBucketSerializer(many=True))
    def get_ages(self, backlog):
        return [{"label": label, "count": count} for label, count, _link in backlog.ages]


class WeekSerializer(serializers.Serializer):
    monday = serializers.DateField()
    filed = serializers.IntegerField(source="created")
    completed = serializers.IntegerField()
    first_response_met_percent = serializers.FloatField(source="fr_met_percent", allow_null=True)
    resolution_met_percent = serializers.FloatField(source="res_met_percent", allow_null=True)


class BreakdownRowSerializer(serializers.Serializer):
    key = serializers.CharField(allow_null=True, help_text="The id (or priority) of the group.")
    name = serializers.CharField()
    filed = serializers.IntegerField(source="volume")
    open = serializers.IntegerField()
    breached = serializers.IntegerField()
    completed = AttainmentSerializer(source="cycles")


class BreakdownsSerializer(serializers.Serializer):
    department = BreakdownRowSerializer(many=True)
    team = BreakdownRowSerializer(many=True)
    buyer = BreakdownRowSerializer(many=True)
    category = BreakdownRowSerializer(many=True)
    priority = BreakdownRowSerializer(many=True)


class FairnessRowSerializer(serializers.Serializer):
    department_id = serializers.IntegerField()
    name = serializers.CharField()
    completed = serializers.IntegerField(source="count")
    met_percent = serializers.FloatField(allow_null=True)
    comparable_met_percent = serializers.FloatField(allow_null=True)
    others_met_percent_same_mix = serializers.FloatField(source="expected_met_percent", allow_null=True)
    met_gap_points = serializers.FloatField(source="met_gap", allow_null=True)
    median_hours = serializers.FloatField(allow_null=True)
    time_difference_percent = serializers.FloatField(allow_null=True)
    first_response_time_difference_percent = serializers.FloatField(
        source="fr_time_difference_percent", allow_null=True
    )
    reopen_percent = serializers.FloatField(allow_null=True)
    raised_percent = serializers.FloatField(allow_null=True)
    flags = serializers.ListField(child=serializers.CharField())


class TeamForecastSerializer(serializers.Serializer):
    team_id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    open = serializers.IntegerField()
    breached = serializers.IntegerField()
    due_soon = serializers.IntegerField(help_text="Due within the next 24 business hours, not breached yet.")
    due_this_week = serializers.IntegerField()
    capacity_left = serializers.FloatField(allow_null=True)
    weeks_to_clear = serializers.FloatField(allow_null=True)
    will_miss = serializers.BooleanField()


class BuyerWarningSerializer(serializers.Serializer):
    buyer_id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    due_soon = serializers.IntegerField()
    open = serializers.IntegerField()
    breached = serializers.IntegerField()


class EarlyWarningSerializer(serializers.Serializer):
    horizon = serializers.DateTimeField()
    teams = TeamForecastSerializer(many=True)
    buyers = BuyerWarningSerializer(many=True)


class CsatSerializer(serializers.Serializer):
    sent = serializers.IntegerField()
    answered = serializers.IntegerField()
    average = serializers.FloatField(allow_null=True)
    response_percent = serializers.IntegerField(allow_null=True)


class DashboardSerializer(serializers.Serializer):
    period = PeriodSerializer(source="scope.period")
    backlog = BacklogSerializer()
    completed_cycles = AttainmentSerializer(source="attainment")
    filed = serializers.IntegerField(source="created")
    completed = serializers.IntegerField()
    backlog_change = serializers.IntegerField(help_text="Filed minus completed in the period.")
    target_percent = serializers.IntegerField()
    weeks = WeekSerializer(many=True)
    breakdowns = BreakdownsSerializer()
    fairness = FairnessRowSerializer(many=True, source="fairness.rows")
    early_warning = EarlyWarningSerializer(source="warning")
    csat = CsatSerializer(source="api_csat")
