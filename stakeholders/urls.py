from django.urls import path

from . import views

app_name = "stakeholders"

urlpatterns = [
    path("", views.NotificationListView.as_view(), name="notifications"),
    path("bell/", views.BellView.as_view(), name="bell"),
    path("read-all/", views.NotificationsReadAllView.as_view(), name="notifications_read_all"),
    path("preferences/", views.PreferencesView.as_view(), name="preferences"),
    path("<int:pk>/", views.NotificationOpenView.as_view(), name="notification_open"),
    path("<int:pk>/read/", views.NotificationReadView.as_view(), name="notification_read"),
]
