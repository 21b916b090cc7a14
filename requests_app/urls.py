from django.urls import path
from django.views.generic import RedirectView

from . import permissions, views

app_name = "requests_app"


urlpatterns = [
    path("new/", views.RequestCreateView.as_view(), name="create"),
    path("mine/", views.RequestListView.as_view(scope="mine"), name="mine"),
    path("department/", views.RequestListView.as_view(scope="department"), name="department"),
    path("approvals/", views.RequestListView.as_view(scope="approvals"), name="approvals"),
    path("all/", views.RequestListView.as_view(scope="all"), name="all"),
    # Before "<reference>/": these words are not references.
    path("routing/", views.RoutingView.as_view(), name="routing"),
    path("routing/rules/new/", views.RoutingRuleFormView.as_view(), name="routing_rule_create"),
    path("routing/rules/<int:pk>/", views.RoutingRuleFormView.as_view(), name="routing_rule_update"),
    path("routing/rules/<int:pk>/delete/", views.RoutingRuleDeleteView.as_view(), name="routing_rule_delete"),
    path("routing/rules/<int:pk>/move/", views.RoutingRuleMoveView.as_view(), name="routing_rule_move"),
    path("availability/", views.AvailabilityView.as_view(), name="availability"),
    path("decide/<str:token>/", views.ApprovalLinkView.as_view(), name="approval_link"),
    # The buyer queue: fixed names first, then the views declared in requests_app.queue.QUEUE_VIEWS.
    path("queue/", RedirectView.as_view(pattern_name="home"), name="queue_home"),
    path("queue/bulk/", views.QueueBulkView.as_view(), name="queue_bulk"),
    path("queue/saved/", views.SavedQueueViewCreateView.as_view(), name="queue_save"),
    path("queue/saved/<int:pk>/delete/", views.SavedQueueViewDeleteView.as_view(), name="queue_saved_delete"),
    path("queue/actions/<str:reference>/", views.QueueActionsView.as_view(), name="queue_actions"),
    path("queue/<slug:view>/", views.QueuePageView.as_view(), name="queue"),
    path("queue/<slug:view>/export.csv", views.QueueExportView.as_view(), name="queue_export"),
    path("<str:reference>/", views.RequestDetailView.as_view(), name="detail"),
    path("<str:reference>/submitted/", views.RequestConfirmationView.as_view(), name="confirmation"),
    path("<str:reference>/comments/", views.CommentCreateView.as_view(), name="comment"),
    path("<str:reference>/expected-date/", views.ExpectedDateView.as_view(), name="expected_date"),
    path("<str:reference>/follow/", views.FollowView.as_view(), name="follow"),
    path("<str:reference>/followers/", views.WatcherAddView.as_view(), name="watcher_add"),
    path("<str:reference>/followers/<int:user_id>/remove/", views.WatcherRemoveView.as_view(), name="watcher_remove"),
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
