from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from . import services
from .forms import WebhookForm
from .models import DeliveryStatus, Webhook, WebhookDelivery


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    """The same services as the /webhooks/ pages: the secret is generated, shown, and rotated, never typed."""

    form = WebhookForm
    list_display = ["name", "target_url", "is_active", "created_by", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "target_url"]
    readonly_fields = ["secret", "secret_rotated_at", "created_by", "created_at"]
    actions = ["rotate_secret_action"]

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in ("name", "target_url", "events", "is_active")}
        if change:
            saved = services.webhook_update(webhook=obj, actor=request.user, **fields)
        else:
            saved = services.webhook_create(actor=request.user, **fields)
        obj.pk, obj.secret = saved.pk, saved.secret

    @admin.action(description="Rotate the signing secret of the selected webhooks")
    def rotate_secret_action(self, request, queryset):
        for webhook in queryset:
            services.webhook_secret_rotate(webhook=webhook, actor=request.user)
        self.message_user(request, f"{queryset.count()} secret(s) replaced; give the receivers the new ones.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log of every webhook: what was sent, what waits (backing off) and what failed."""

    list_display = ["created_at", "webhook", "event_type", "status", "attempts", "last_response_code", "delivered_at"]
    list_filter = ["status", "event_type", "webhook"]
    search_fields = ["id", "event_key", "procurement_request__reference", "last_error"]
    list_select_related = ["webhook"]
    date_hierarchy = "created_at"
    actions = ["retry_action"]
    fields = [
        ("id", "webhook", "event_type", "event_key"),
        "procurement_request",
        ("status", "attempts", "next_attempt_at", "lease_until", "queued_at"),
        ("last_response_code", "last_attempt_at", "delivered_at", "created_at"),
        "last_error",
        "payload",
    ]
    readonly_fields = [name for row in fields for name in (row if isinstance(row, tuple) else (row,))]

    @admin.action(description="Retry the selected failed deliveries now")
    def retry_action(self, request, queryset):
        retried = 0
        for delivery in queryset.filter(status=DeliveryStatus.FAILED):
            try:
                services.webhook_delivery_retry(delivery=delivery, actor=request.user)
            except ValidationError as error:
                self.message_user(request, f"{delivery.pk}: {' '.join(error.messages)}", messages.WARNING)
            else:
                retried += 1
        self.message_user(
            request, f"{retried} deliver{'ies' if retried != 1 else 'y'} queued again (only failed ones)."
        )

    def has_add_permission(self, request):
        return False  # written by the services only

    def has_change_permission(self, request, obj=None):
        return obj is None  # the list and its action; rows themselves are read-only
