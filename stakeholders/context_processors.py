from .roles import APPROVE, ASSIGN, SUBMIT, VIEW_ALL, WORK, has_role


def roles(request):
    """What the navigation needs to know about the user, computed once per page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "can_submit": has_role(user, SUBMIT),
        "can_approve": has_role(user, APPROVE),
        "is_procurement": has_role(user, WORK) or has_role(user, VIEW_ALL),
        "is_manager": has_role(user, ASSIGN),
        "is_buyer": has_role(user, WORK),
    }
