from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from requests_app.views import home
from stakeholders.views import LoginView

urlpatterns = [
    path("", home, name="home"),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("requests/", include("requests_app.urls")),
    path("slas/", include("slas.urls")),
    path("webhooks/", include("webhooks.urls")),
    path("", include("stakeholders.urls")),  # me/settings/, notifications/
    path("admin/", admin.site.urls),
]
