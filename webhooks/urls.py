from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("", views.WebhookListView.as_view(), name="list"),
    path("new/", views.WebhookFormView.as_view(), name="create"),
    path("<int:pk>/", views.WebhookDetailView.as_view(), name="detail"),
    path("<int:pk>/deliveries/", views.DeliveryLogView.as_view(), name="deliveries"),
    path("<int:pk>/edit/", views.WebhookFormView.as_view(), name="update"),
    path("<int:pk>/active/", views.WebhookActiveView.as_view(), name="active"),
    path("<int:pk>/rotate/", views.WebhookRotateView.as_view(), name="rotate"),
    path("<int:pk>/test/", views.WebhookTestView.as_view(), name="test"),
    path("<int:pk>/deliveries/<uuid:delivery_id>/retry/", views.DeliveryRetryView.as_view(), name="retry"),
]
