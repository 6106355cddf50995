import secrets
import unicodedata
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from annotation.models import Profile, Role, Track

PLATFORM_ADMINS_GROUP = "platform admins"
# The apps whose models platform admins manage in the Django admin. Not `auth`: whoever may change users may
# make themselves superusers.
PLATFORM_ADMIN_APPS = ("annotation", "authtoken", "axes")
USERNAME_MAX_LENGTH = 150
MARKUP_CHARACTERS = set("<>&\"'")


def username_problems(username: str) -> list[str]:
    """Why a username is refused, one line each: markup, any whitespace, invisible characters, length."""
    if not username:
        return ["must not be empty"]
    problems = []
    if len(username) > USERNAME_MAX_LENGTH:
        problems.append(f"must be at most {USERNAME_MAX_LENGTH} characters (this one has {len(username)})")
    if MARKUP_CHARACTERS & set(username):
        problems.append("must not contain markup characters (< > & \" ')")
    if any(ch.isspace() or unicodedata.category(ch).startswith("Z") for ch in username):
        problems.append("must not contain spaces (leading, trailing, inside or non-breaking)")
    if any(unicodedata.category(ch).startswith("C") and not ch.isspace() for ch in username):
        problems.append("must not contain control or invisible characters")
    if not problems:
        try:
            get_user_model().username_validator(username)
        except ValidationError as error:
            problems.extend(error.messages)
    return problems


def password_problems(password: str, *, username: str) -> list[str]:
    """Django's AUTH_PASSWORD_VALIDATORS on a password, judged against its account's username."""
    if not password:
        return ["must not be empty"]
    try:
        validate_password(password, user=get_user_model()(username=username))
    except ValidationError as error:
        return list(error.messages)
    return []


@transaction.atomic
def user_create(*, username: str, password: str, role: str, tracks: list[str] | None = None):
    """Add an account. Admins are Django staff in the platform admins group, never superusers."""
    errors = {}
    if role not in Role.values:
        errors["role"] = [f"must be one of {', '.join(Role.values)}"]
    bad_tracks = [t for t in tracks or [] if t not in Track.values]
    if bad_tracks:
        errors["tracks"] = [f"unknown track(s): {', '.join(bad_tracks)}"]
    User = get_user_model()
    if problems := username_problems(username):
        errors["username"] = problems
    elif User.objects.filter(username=username).exists():
        errors["username"] = ["a user with that username already exists"]
    if problems := password_problems(password, username=username):
        errors["password"] = problems
    if errors:
        raise ValidationError(errors)
    user = User.objects.create_user(username=username, password=password)
    if role == Role.ADMIN:
        admin_grant(user=user)
    Profile.objects.create(
        user=user, role=role, tracks=list(tracks or []), pseudonym=f"annotator-{secrets.token_hex(6)}"
    )
    return user


@transaction.atomic
def user_password_set(*, user, password: str) -> None:
    """Change a password under the same rules as a new account's (the user's API tokens go with the old one)."""
    if problems := password_problems(password, username=user.username):
        raise ValidationError({"password": problems})
    user.set_password(password)
    user.save()


def platform_admins_group() -> Group:
    """The group that gives admins every permission on the platform's models (idempotent; picks up new models)."""
    group, _ = Group.objects.get_or_create(name=PLATFORM_ADMINS_GROUP)
    group.permissions.add(*Permission.objects.filter(content_type__app_label__in=PLATFORM_ADMIN_APPS))
    return group


@transaction.atomic
def admin_grant(*, user) -> None:
    """Make a user a platform admin: staff with the platform admins group (a superuser of old is demoted)."""
    user.is_staff = True
    user.is_superuser = False
    user.save(update_fields=["is_staff", "is_superuser"])
    user.groups.add(platform_admins_group())


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


@transaction.atomic
def token_for_login(*, user) -> Token:
    """The user's API token: the current one, or a fresh one once it is past half its lifetime."""
    token = Token.objects.select_for_update().filter(user=user).first()
    if token is not None and token.created > timezone.now() - timedelta(seconds=settings.API_TOKEN_TTL_S / 2):
        return token
    if token is not None:
        token.delete()
    token, _ = Token.objects.get_or_create(user=user)
    return token


def user_tokens_revoke(*, user) -> None:
    Token.objects.filter(user=user).delete()


def user_credentials_changed(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    """pre_save on the user model: a new password or a deactivation revokes the user's API tokens.

    A receiver rather than a service step, because Django's admin, `changepassword` and password resets
    change passwords without passing through the platform's services.
    """
    if raw or instance.pk is None or (update_fields is not None and not {"password", "is_active"} & set(update_fields)):
        return
    stored = sender.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if stored and (stored["password"] != instance.password or (stored["is_active"] and not instance.is_active)):
        user_tokens_revoke(user=instance)
