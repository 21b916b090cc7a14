"""The API tokens section of My settings: create (the secret is shown once) and revoke."""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from requests_app.forms import apply_service_errors

from . import services
from .forms import ApiTokenForm
from .models import ApiToken


def settings_url():
    return reverse("stakeholders:settings") + "#api-tokens"


class ApiTokenCreateView(LoginRequiredMixin, View):
    def post(self, request):
        form = ApiTokenForm(request.POST, prefix="token")
        if form.is_valid():
            try:
                token, secret = services.api_token_create(
                    user=request.user, name=form.cleaned_data["name"], expires_at=form.expires_at()
                )
            except ValidationError as error:
                apply_service_errors(form, error)
            else:
                # The only time the secret exists outside the caller's hands: never cached, never stored.
                response = render(request, "api/token_created.html", {"token": token, "secret": secret})
                response["Cache-Control"] = "no-store"
                return response
        return render(request, "api/token_form.html", {"form": form}, status=400)


class ApiTokenRevokeView(LoginRequiredMixin, View):
    def post(self, request, pk):
        # Someone else's token is a 404, like one that does not exist.
        token = get_object_or_404(ApiToken, pk=pk, user=request.user)
        services.api_token_revoke(token=token, actor=request.user)
        messages.success(request, f"The token “{token.name}” is revoked; calls with it are refused from now on.")
        return redirect(settings_url())
