import secrets

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from annotation.models import Profile, Role, Track


@transaction.atomic
def user_create(*, username: str, password: str, role: str, tracks: list[str] | None = None):
    """Add an account. Admins are Django staff (and superusers, for the Django admin)."""
    errors = {}
    if role not in Role.values:
        errors["role"] = [f"must be one of {', '.join(Role.values)}"]
    bad_tracks = [t for t in tracks or [] if t not in Track.values]
    if bad_tracks:
        errors["tracks"] = [f"unknown track(s): {', '.join(bad_tracks)}"]
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        errors["username"] = ["a user with that username already exists"]
    if not username:
        errors["username"] = ["must not be empty"]
    if not password:
        errors["password"] = ["must not be empty"]
    if errors:
        raise ValidationError(errors)
    is_admin = role == Role.ADMIN
    user = User.objects.create_user(username=username, password=password, is_staff=is_admin, is_superuser=is_admin)
    Profile.objects.create(user=user, role=role, tracks=list(tracks or []), pseudonym=f"annotator-{secrets.token_hex(6)}")
    return user


def user_profile(user) -> Profile:
    """The profile of a user, created as an annotator's if missing (e.g. made with createsuperuser)."""
    try:
        return user.profile
    except Profile.DoesNotExist:
        role = Role.ADMIN if user.is_staff else Role.ANNOTATOR
        profile, _ = Profile.objects.get_or_create(
            user=user, defaults={"role": role, "pseudonym": f"annotator-{secrets.token_hex(6)}"}
        )
        return profile
