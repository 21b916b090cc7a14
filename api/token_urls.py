from django.urls import path

from . import token_views

app_name = "api_tokens"

urlpatterns = [
    path("me/api-tokens/", token_views.ApiTokenCreateView.as_view(), name="create"),
    path("me/api-tokens/<int:pk>/revoke/", token_views.ApiTokenRevokeView.as_view(), name="revoke"),
]
