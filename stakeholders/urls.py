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
