from django.urls import path

from . import views

app_name = "stakeholders"

urlpatterns = [
    path("stakeholders/<slug:code>/scorecard/", views.ScorecardView.as_view(), name="scorecard"),
    path("me/settings/", views.PersonalSettingsView.as_view(), name="settings"),
    path("notifications/", views.NotificationListView.as_view(), name="notifications"),
    path("notifications/bell/", views.BellView.as_view(), name="bell"),
    path("notifications/read-all/", views.NotificationsReadAllView.as_view(), name="notifications_read_all"),
    path("notifications/preferences/", views.PreferencesView.as_view(), name="preferences"),
    path("notifications/<int:pk>/", views.NotificationOpenView.as_view(), name="notification_open"),
    path("notifications/<int:pk>/read/", views.NotificationReadView.as_view(), name="notification_read"),
]

# The internal customer directory: a department is addressed by its code (/stakeholders/sales/).
urlpatterns += [
    path("stakeholders/", views.DirectoryView.as_view(), name="directory"),
    path("stakeholders/<slug:code>/", views.DepartmentView.as_view(), name="department"),
    path("stakeholders/<slug:code>/agreement/new/", views.AgreementCreateView.as_view(), name="agreement_create"),
    path(
        "stakeholders/<slug:code>/agreement/<int:version>/sign-off/",
        views.AgreementSignOffView.as_view(),
        name="agreement_sign_off",
    ),
    path("stakeholders/<slug:code>/schedule/", views.ScheduleView.as_view(), name="schedule"),
    path("stakeholders/<slug:code>/meetings/new/", views.MeetingCreateView.as_view(), name="meeting_create"),
    path("stakeholders/<slug:code>/meetings/<int:pk>/", views.MeetingView.as_view(), name="meeting"),
    path(
        "stakeholders/<slug:code>/meetings/<int:pk>/minutes/",
        views.MeetingMinutesView.as_view(),
        name="meeting_minutes",
    ),
    path(
        "stakeholders/<slug:code>/meetings/<int:pk>/action-items/",
        views.ActionItemCreateView.as_view(),
        name="action_item_create",
    ),
    path(
        "stakeholders/<slug:code>/meetings/<int:pk>/publish/",
        views.PublishOutcomesView.as_view(),
        name="meeting_publish",
    ),
    path(
        "stakeholders/<slug:code>/action-items/<int:pk>/status/",
        views.ActionItemStatusView.as_view(),
        name="action_item_status",
    ),
]

# Request satisfaction: the requester's survey (addressed by the request's reference) and the follow-up
# of a low score.
urlpatterns += [
    path("surveys/<str:reference>/", views.SurveyView.as_view(), name="survey"),
    path("follow-ups/<int:pk>/", views.FollowUpView.as_view(), name="follow_up"),
    path(
        "stakeholders/<slug:code>/relationship-survey/schedule/",
        views.RelationshipScheduleView.as_view(),
        name="relationship_schedule",
    ),
    path(
        "stakeholders/<slug:code>/relationship-survey/<int:pk>/",
        views.RelationshipSurveyView.as_view(),
        name="relationship_survey",
    ),
]
