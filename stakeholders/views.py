from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views import View

from .forms import PersonalSettingsForm
from .middleware import session_time_zone_set
from .models import profile_for
from .services import profile_update


class LoginView(auth_views.LoginView):
    """Django's login, which also remembers the person's time zone for the session."""

    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        session_time_zone_set(self.request, profile_for(form.get_user()).time_zone)
        return response


class PersonalSettingsView(LoginRequiredMixin, View):
    template_name = "stakeholders/settings.html"

    def get(self, request):
        form = PersonalSettingsForm(initial={"time_zone": profile_for(request.user).time_zone})
        return render(request, self.template_name, {"form": form})

    def post(self, request):
        form = PersonalSettingsForm(request.POST)
        if form.is_valid():
            try:
                profile = profile_update(
                    user=request.user, actor=request.user, time_zone=form.cleaned_data["time_zone"]
                )
            except ValidationError as error:
                form.add_error("time_zone", error.messages)
            else:
                session_time_zone_set(request, profile.time_zone)
                messages.success(request, f"Times are now shown in {profile.zone.key.replace('_', ' ')}.")
                return redirect("stakeholders:settings")
        return render(request, self.template_name, {"form": form}, status=400)
