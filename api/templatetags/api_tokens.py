from django import template

from ..forms import ApiTokenForm
from ..models import ApiToken

register = template.Library()


@register.inclusion_tag("api/_partials/token_section.html", takes_context=True)
def api_token_section(context):
    """My settings' API tokens card: the person's tokens and a form for a new one."""
    user = context["request"].user
    return {
        "tokens": ApiToken.objects.filter(user=user),
        "form": ApiTokenForm(prefix="token"),
        "csrf_token": context.get("csrf_token"),
    }
