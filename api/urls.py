from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import views

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("me/", views.MeView.as_view(), name="me"),
    path("requests/", views.RequestListView.as_view(), name="requests"),
    path("requests/<str:reference>/", views.RequestDetailView.as_view(), name="request"),
    path("requests/<str:reference>/replies/", views.ReplyCreateView.as_view(), name="reply"),
    path("requests/<str:reference>/notes/", views.NoteCreateView.as_view(), name="note"),
    path("requests/<str:reference>/attachments/", views.AttachmentUploadView.as_view(), name="attachments"),
    path(
        "requests/<str:reference>/attachments/<int:attachment_id>/",
        views.AttachmentDownloadView.as_view(),
        name="attachment_download",
    ),
    path("categories/", views.CategoryListView.as_view(), name="categories"),
    path("departments/", views.DepartmentListView.as_view(), name="departments"),
    path("teams/", views.TeamListView.as_view(), name="teams"),
    path("sla-policies/", views.SlaPolicyListView.as_view(), name="sla_policies"),
    path("catalogue/", views.CatalogueView.as_view(), name="catalogue"),
    path("notifications/", views.NotificationListView.as_view(), name="notifications"),
    path("notifications/read-all/", views.NotificationsReadAllView.as_view(), name="notifications_read_all"),
    path("notifications/<int:pk>/read/", views.NotificationReadView.as_view(), name="notification_read"),
    path("dashboard/", views.DashboardView.as_view(), name="dashboard"),
]
# One URL per lifecycle action: /api/v1/requests/PR-2026-000123/mark-ordered/
urlpatterns += [
    path(f"requests/<str:reference>/{views.action_path(action)}/", view.as_view(), name=f"action_{action}")
    for action, view in views.ACTION_VIEWS.items()
]
