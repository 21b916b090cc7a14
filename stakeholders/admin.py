from django.contrib import admin, messages

from requests_app.admin import ReadOnlyInline

from .models import (
    ActionItem,
    Department,
    Meeting,
    Membership,
    Notification,
    NotificationPreference,
    Profile,
    RelationReminder,
    SatisfactionSurvey,
    ServiceAgreement,
    SurveyFollowUp,
)
from .services import notifications_retry


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "head", "is_procurement", "is_active", "directory_is_public"]
    list_filter = ["is_active", "is_procurement", "directory_is_public"]
    search_fields = ["name", "code", "head__username", "head__last_name"]
    autocomplete_fields = ["head"]
    filter_horizontal = ["contacts"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "department", "job_title"]
    list_filter = ["department"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "department__name"]
    autocomplete_fields = ["user", "department"]
    list_select_related = ["user", "department"]


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "time_zone", "away_until"]
    list_filter = ["away_until"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    autocomplete_fields = ["user"]
    list_select_related = ["user"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """The outbox: what was sent, what waits (held for quiet hours, backing off) and what failed."""

    list_display = ["created_at", "recipient", "kind", "channel", "status", "attempts", "subject", "sent_at", "read_at"]
    list_filter = ["status", "channel", "kind"]
    search_fields = ["recipient__username", "recipient__email", "procurement_request__reference", "last_error"]
    list_select_related = ["recipient"]
    date_hierarchy = "created_at"
    actions = ["retry_action"]
    fields = [
        ("recipient", "kind", "channel"),
        ("procurement_request", "escalation"),
        ("status", "attempts", "not_before", "lease_until", "queued_at"),
        ("sent_at", "sent_with", "read_at", "created_at"),
        "last_error",
        "payload",
    ]
    readonly_fields = [name for row in fields for name in (row if isinstance(row, tuple) else (row,))]

    @admin.action(description="Retry sending the selected e-mails")
    def retry_action(self, request, queryset):
        count = notifications_retry(ids=queryset.values_list("pk", flat=True))
        self.message_user(
            request,
            f"{count} e-mail{'s' if count != 1 else ''} queued again (sent ones were left alone).",
            messages.SUCCESS,
        )

    def has_add_permission(self, request):
        return False  # written by the services only

    def has_change_permission(self, request, obj=None):
        return obj is None  # the list and its action; rows themselves are read-only


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "kind", "by_email"]
    list_filter = ["kind", "by_email"]
    search_fields = ["user__username"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Relationship records are written on the department pages, through the services: here they are read."""

    has_add_permission = ReadOnlyInline.has_add_permission
    has_change_permission = ReadOnlyInline.has_change_permission
    has_delete_permission = ReadOnlyInline.has_delete_permission


@admin.register(ServiceAgreement)
class ServiceAgreementAdmin(ReadOnlyAdmin):
    list_display = ["department", "version", "review_on", "created_by", "created_at", "signed_off_by", "signed_off_at"]
    list_filter = ["department"]
    list_select_related = ["department", "created_by", "signed_off_by"]


class ActionItemInline(ReadOnlyInline):
    model = ActionItem
    fields = ["title", "owner", "due_on", "status", "closed_at"]
    readonly_fields = fields


@admin.register(Meeting)
class MeetingAdmin(ReadOnlyAdmin):
    list_display = ["title", "department", "starts_at", "published_at"]
    list_filter = ["department"]
    list_select_related = ["department"]
    inlines = [ActionItemInline]


@admin.register(RelationReminder)
class RelationReminderAdmin(ReadOnlyAdmin):
    list_display = ["subject", "department", "action_item", "survey", "follow_up", "due_on", "created_at"]
    list_filter = ["subject"]
    list_select_related = ["department", "action_item", "survey", "follow_up"]


@admin.register(SatisfactionSurvey)
class SatisfactionSurveyAdmin(ReadOnlyAdmin):
    list_display = ["procurement_request", "requester", "buyer", "department", "sent_at", "rating", "answered_at"]
    list_filter = ["rating", "department"]
    list_select_related = ["procurement_request", "requester", "buyer", "department"]


@admin.register(SurveyFollowUp)
class SurveyFollowUpAdmin(ReadOnlyAdmin):
    list_display = ["survey", "owner", "opened_at", "due_at", "closed_at", "closed_by"]
    list_select_related = ["survey", "owner", "closed_by"]
