from django.urls import path

from . import views

app_name = "slas"

urlpatterns = [
    path("catalogue/", views.CatalogueView.as_view(), name="catalogue"),
    path("dashboard/", views.SlaDashboardView.as_view(), name="dashboard"),
    path("dashboard/export/<slug:dimension>.csv", views.SlaDashboardExportView.as_view(), name="dashboard_export"),
    path(
        "dashboard/fairness/<int:department_id>/",
        views.SlaDashboardFairnessEvidenceView.as_view(),
        name="dashboard_fairness_evidence",
    ),
    path("promise/", views.PromiseView.as_view(), name="promise"),
    path("settings/", views.SlaSettingsView.as_view(), name="settings"),
    path("settings/policies/new/", views.SlaPolicyEditView.as_view(), name="policy_create"),
    path("settings/policies/<int:pk>/", views.SlaPolicyEditView.as_view(), name="policy_edit"),
    path("settings/policies/<int:pk>/make-default/", views.SlaPolicyMakeDefaultView.as_view(), name="policy_default"),
    path("settings/calendars/<int:pk>/hours/", views.CalendarVersionAddView.as_view(), name="calendar_hours"),
    path("settings/calendars/<int:pk>/holidays/", views.CalendarHolidaysImportView.as_view(), name="calendar_holidays"),
]
