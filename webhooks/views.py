"""The webhooks pages, for procurement managers (the routing page's gate): anyone else gets 403."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Max, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from requests_app.forms import apply_service_errors
from requests_app.views import ManagerRequiredMixin

from . import services
from .forms import WebhookForm
from .models import DeliveryStatus, Webhook, WebhookDelivery

LOG_PAGE_SIZE = 25


def _detail_url(webhook, *, show_secret=False):
    """The webhook's page; with the secret unfolded right after it was made (to configure the receiver)."""
    url = reverse("webhooks:detail", args=[webhook.pk])
    return f"{url}?secret=show#secret-card" if show_secret else url


class WebhookListView(ManagerRequiredMixin, View):
    def get(self, request):
        webhooks = Webhook.objects.select_related("created_by").annotate(
            failed=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.FAILED)),
            outstanding=Count(
                "deliveries", filter=Q(deliveries__status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING])
            ),
            last_delivery_at=Max("deliveries__created_at"),
        )
        return render(request, "webhooks/list.html", {"webhooks": webhooks})


class WebhookFormView(ManagerRequiredMixin, View):
    """Create a webhook (no pk) or edit one; errors appear beside their fields."""

    template_name = "webhooks/form.html"

    def get(self, request, pk=None):
        webhook = get_object_or_404(Webhook, pk=pk) if pk else Webhook()
        return render(request, self.template_name, {"form": WebhookForm(instance=webhook), "webhook": webhook})

    def post(self, request, pk=None):
        webhook = get_object_or_404(Webhook, pk=pk) if pk else Webhook()
        form = WebhookForm(request.POST, instance=get_object_or_404(Webhook, pk=pk) if pk else Webhook())
        if form.is_valid():
            try:
                if webhook.pk:
                    saved = services.webhook_update(webhook=webhook, actor=request.user, **form.cleaned_data)
                else:
                    saved = services.webhook_create(actor=request.user, **form.cleaned_data)
            except ValidationError as error:
                apply_service_errors(form, error)
            else:
                if webhook.pk:
                    messages.success(request, f"Webhook ‘{saved.name}’ is saved.")
                else:
                    messages.success(
                        request,
                        f"Webhook ‘{saved.name}’ is created. Give the receiver its secret to check signatures.",
                    )
                return redirect(_detail_url(saved, show_secret=not webhook.pk))
        return render(request, self.template_name, {"form": form, "webhook": webhook}, status=400)


def _log_context(request, webhook):
    deliveries = WebhookDelivery.objects.filter(webhook=webhook).order_by("-created_at", "-pk")
    status = request.GET.get("status")
    if status in DeliveryStatus.values:
        deliveries = deliveries.filter(status=status)
    page = Paginator(deliveries, LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    outstanding = any(delivery.status in (DeliveryStatus.PENDING, DeliveryStatus.SENDING) for delivery in page)
    return {
        "webhook": webhook,
        "page": page,
        "status": status if status in DeliveryStatus.values else "",
        "statuses": DeliveryStatus.choices,
        "outstanding": outstanding,
    }


class WebhookDetailView(ManagerRequiredMixin, View):
    """The webhook's settings, its secret, its actions and its delivery log."""

    def get(self, request, pk):
        webhook = get_object_or_404(Webhook.objects.select_related("created_by"), pk=pk)
        return render(request, "webhooks/detail.html", _log_context(request, webhook))


class DeliveryLogView(ManagerRequiredMixin, View):
    """The delivery log alone: htmx refreshes it while deliveries are outstanding."""

    def get(self, request, pk):
        webhook = get_object_or_404(Webhook, pk=pk)
        return render(request, "webhooks/_partials/delivery_log.html", _log_context(request, webhook))


class WebhookActiveView(ManagerRequiredMixin, View):
    def post(self, request, pk):
        webhook = get_object_or_404(Webhook, pk=pk)
        active = request.POST.get("active") == "1"
        services.webhook_update(webhook=webhook, actor=request.user, is_active=active)
        messages.success(request, f"Webhook ‘{webhook.name}’ is {'enabled' if active else 'disabled'}.")
        return redirect("webhooks:detail", pk=pk)


class WebhookRotateView(ManagerRequiredMixin, View):
    def post(self, request, pk):
        webhook = services.webhook_secret_rotate(webhook=get_object_or_404(Webhook, pk=pk), actor=request.user)
        messages.success(
            request, f"Webhook ‘{webhook.name}’ has a new secret: every delivery from now on is signed with it."
        )
        return redirect(_detail_url(webhook, show_secret=True))


class WebhookTestView(ManagerRequiredMixin, View):
    def post(self, request, pk):
        webhook = get_object_or_404(Webhook, pk=pk)
        try:
            services.webhook_test_send(webhook=webhook, actor=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, "A test event is on its way; its delivery is at the top of the log.")
        return redirect("webhooks:detail", pk=pk)


class DeliveryRetryView(ManagerRequiredMixin, View):
    def post(self, request, pk, delivery_id):
        delivery = get_object_or_404(WebhookDelivery, pk=delivery_id, webhook_id=pk)
        try:
            services.webhook_delivery_retry(delivery=delivery, actor=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, "The delivery is being sent again.")
        return redirect("webhooks:detail", pk=pk)
