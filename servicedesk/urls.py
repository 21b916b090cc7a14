from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from requests_app.views import home

urlpatterns = [
    path("", home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("requests/", include("requests_app.urls")),
    path("slas/", include("slas.urls")),
    path("notifications/", include("stakeholders.urls")),
    path("admin/", admin.site.urls),
]
