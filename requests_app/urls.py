from django.urls import path

from . import permissions, views

app_name = "requests_app"


urlpatterns = [
    path("new/", views.RequestCreateView.as_view(), name="create"),
    path("mine/", views.RequestListView.as_view(scope="mine"), name="mine"),
    path("department/", views.RequestListView.as_view(scope="department"), name="department"),
    path("approvals/", views.RequestListView.as_view(scope="approvals"), name="approvals"),
    path("all/", views.RequestListView.as_view(scope="all"), name="all"),
    path("<str:reference>/", views.RequestDetailView.as_view(), name="detail"),
    path("<str:reference>/submitted/", views.RequestConfirmationView.as_view(), name="confirmation"),
    path("<str:reference>/comments/", views.CommentCreateView.as_view(), name="comment"),
    path("<str:reference>/expected-date/", views.ExpectedDateView.as_view(), name="expected_date"),
    path(
        "<str:reference>/attachments/<int:attachment_id>/",
        views.AttachmentDownloadView.as_view(),
        name="attachment",
    ),
    *[
        path(
            f"<str:reference>/{action.replace('_', '-')}/",
            views.RequestActionView.as_view(action=action),
            name=action,
        )
        for action in permissions.ACTION_RULES  # every lifecycle action, declared once there
    ],
]
