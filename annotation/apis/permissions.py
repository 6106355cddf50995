from rest_framework.permissions import BasePermission

from annotation.models import Role
from annotation.services.users import user_profile


class IsAnnotator(BasePermission):
    """Annotators (and admins, who may annotate to try things out)."""

    message = "this needs an annotator account"

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user_profile(user).role in (Role.ANNOTATOR, Role.ADMIN))


class IsAdmin(BasePermission):
    message = "this needs an admin account"

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff)
