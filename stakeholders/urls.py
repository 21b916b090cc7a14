from django.urls import path

from . import views

app_name = "stakeholders"

urlpatterns = [
    path("settings/", views.PersonalSettingsView.as_view(), name="settings"),
]
