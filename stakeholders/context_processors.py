from .roles import APPROVE, ASSIGN, SUBMIT, VIEW_ALL, WORK, has_role


def _department_name(user):
    """The user's department for the user menu, read with its membership in one query (None: no department)."""
    from .models import Department

    return Department.objects.filter(members__user=user).values_list("name", flat=True).first()


def roles(request):
    """What the navigation needs to know about the user, computed once per page (the department when shown)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "menu_department": lambda: _department_name(user),  # a callable: templates call it only where shown
        "can_submit": has_role(user, SUBMIT),
        "can_approve": has_role(user, APPROVE),
        "is_procurement": has_role(user, WORK) or has_role(user, VIEW_ALL),
        "is_manager": has_role(user, ASSIGN),
        "is_buyer": has_role(user, WORK),
    }
