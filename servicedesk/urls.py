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
    path("api/v1/", include("api.urls")),
    path("", include("api.token_urls")),  # me/api-tokens/: the API tokens section of My settings
]

# Under /api/ a URL nothing answers, or a crash, is answered in the API's JSON error format.
handler404 = "api.errors.not_found"
handler500 = "api.errors.server_error"
