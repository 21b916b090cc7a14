from .roles import APPROVE, ASSIGN, SUBMIT, VIEW_ALL, WORK, perm_name


def roles(request):
    """What the navigation needs to know about the user, computed once per page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "can_submit": user.has_perm(perm_name(SUBMIT)),
        "can_approve": user.has_perm(perm_name(APPROVE)),
        "is_procurement": user.has_perm(perm_name(WORK)) or user.has_perm(perm_name(VIEW_ALL)),
        "is_manager": user.has_perm(perm_name(ASSIGN)),
        "is_buyer": user.has_perm(perm_name(WORK)),
    }
