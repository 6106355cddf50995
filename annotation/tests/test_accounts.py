"""Accounts against abuse: login throttling and lockout, password and username rules, admin rights, token lifetime."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.apis.throttling import LoginRateThrottle
from annotation.services.users import PLATFORM_ADMINS_GROUP, user_create, user_password_set
from annotation.tests.factories import PASSWORD, AdminFactory, UserFactory, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    cache.clear()
    yield
    cache.clear()


def token_login(username, password, ip="10.0.0.1"):
    return APIClient(REMOTE_ADDR=ip).post(
        "/api/auth/token/", {"username": username, "password": password}, format="json"
    )


# -- throttling and lockout -------------------------------------------------------------------------------------


@override_settings(LOGIN_RATE="3/min")
def test_token_logins_beyond_the_rate_get_429_per_client_ip():
    UserFactory(username="ann")
    answers = [token_login("ann", PASSWORD).status_code for _ in range(3)]
    throttled = token_login("ann", PASSWORD)
    assert answers == [200, 200, 200]
    assert throttled.status_code == 429 and "Retry-After" in throttled.headers
    assert throttled.json()["errors"] == {} and "throttled" in throttled.json()["detail"]
    assert token_login("ann", PASSWORD, ip="10.0.0.2").status_code == 200  # another client is not held up


@override_settings(LOGIN_RATE="1/min")
def test_the_login_throttle_fails_open_when_the_cache_is_down(monkeypatch):
    UserFactory(username="ann")

    class DownCache:
        def get(self, *args, **kwargs):
            raise RedisConnectionError("Connection refused")

        set = get

    monkeypatch.setattr(LoginRateThrottle, "cache", DownCache())
    assert [token_login("ann", PASSWORD).status_code for _ in range(3)] == [200, 200, 200]


@override_settings(AXES_FAILURE_LIMIT=3)
def test_wrong_passwords_lock_the_account_out_of_the_token_api_from_that_address():
    UserFactory(username="ann")
    wrong = [token_login("ann", "not-the-password").status_code for _ in range(2)]
    locked = token_login("ann", "not-the-password")
    assert wrong == [400, 400]
    assert locked.status_code == 429 and "too many failed logins" in locked.json()["detail"]
    assert int(locked.headers["Retry-After"]) > 0
    # locked out: even the right password is refused, without telling whether it was right
    assert token_login("ann", PASSWORD).status_code == 429
    # per (username, IP): the owner on another address still logs in
    assert token_login("ann", PASSWORD, ip="10.0.0.9").status_code == 200


@override_settings(AXES_FAILURE_LIMIT=2, AXES_COOLOFF_TIME=timedelta(seconds=60))
def test_the_lockout_ends_after_its_cool_off():
    from axes.models import AccessAttempt

    UserFactory(username="ann")
    assert [token_login("ann", "wrong-guess").status_code for _ in range(2)] == [400, 429]
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(seconds=61))
    assert token_login("ann", PASSWORD).status_code == 200


@override_settings(AXES_FAILURE_LIMIT=2)
@pytest.mark.parametrize("url", ["/login/", "/admin/login/"])
def test_the_login_forms_lock_out_with_a_plain_page(url):
    AdminFactory(username="boss")
    client = Client(REMOTE_ADDR="10.0.0.3")
    first = client.post(url, {"username": "boss", "password": "wrong-guess"})
    second = client.post(url, {"username": "boss", "password": "wrong-again"})
    locked = client.post(url, {"username": "boss", "password": PASSWORD})
    assert first.status_code == 200 and second.status_code == 429
    assert locked.status_code == 429 and b"Too many failed logins" in locked.content
    assert "Content-Security-Policy" in locked.headers and b"Traceback" not in locked.content


# -- token lifetime -----------------------------------------------------------------------------------------------


def test_delete_revokes_the_callers_token():
    user = UserFactory()
    client = client_for(user)
    assert client.get("/api/dialogues/").status_code == 200
    assert client.delete("/api/auth/token/").status_code == 204
    assert not Token.objects.filter(user=user).exists()
    assert client.get("/api/dialogues/").status_code == 401
    assert APIClient().delete("/api/auth/token/").status_code == 401


@override_settings(API_TOKEN_TTL_S=3600)
def test_a_token_past_its_lifetime_gets_401_and_is_deleted():
    user = UserFactory()
    client = client_for(user)
    Token.objects.filter(user=user).update(created=timezone.now() - timedelta(seconds=3601))
    answer = client.get("/api/dialogues/")
    assert answer.status_code == 401 and "expired" in answer.json()["detail"]
    assert not Token.objects.filter(user=user).exists()


@override_settings(API_TOKEN_TTL_S=3600)
def test_login_reuses_a_young_token_and_renews_one_past_half_its_lifetime():
    user = UserFactory(username="ann")
    first = token_login("ann", PASSWORD).json()["token"]
    assert token_login("ann", PASSWORD).json()["token"] == first
    Token.objects.filter(user=user).update(created=timezone.now() - timedelta(seconds=1801))
    renewed = token_login("ann", PASSWORD).json()["token"]
    assert renewed != first and Token.objects.get(user=user).key == renewed


def test_a_login_with_a_stale_token_header_still_gets_a_token():
    UserFactory(username="ann")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token deadbeef")
    assert client.post("/api/auth/token/", {"username": "ann", "password": PASSWORD}, format="json").status_code == 200


def test_a_password_change_or_a_deactivation_revokes_the_users_tokens():
    user = UserFactory()
    client = client_for(user)
    user_password_set(user=user, password="a-new-passphrase")
    assert client.get("/api/dialogues/").status_code == 401

    other = UserFactory()
    client = client_for(other)
    other.first_name = "Ann"
    other.save()  # an unrelated change keeps the token
    assert client.get("/api/dialogues/").status_code == 200
    other.is_active = False
    other.save()
    assert not Token.objects.filter(user=other).exists()


def test_a_password_changed_in_the_django_admin_revokes_the_users_tokens():
    user = UserFactory()
    client = client_for(user)
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("root", password="root-passphrase"))
    answer = admin.post(
        f"/admin/auth/user/{user.pk}/password/",
        {"password1": "changed-passphrase", "password2": "changed-passphrase", "usable_password": "true"},
    )
    assert answer.status_code == 302
    assert client.get("/api/dialogues/").status_code == 401


# -- create_user: passwords, usernames, admins ----------------------------------------------------------------------


def create_user(*args):
    out = StringIO()
    call_command("create_user", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.parametrize(
    "username, password, reason",
    [
        ("ann", "1", "too short"),
        ("ann", "password", "too common"),
        ("annotator7", "annotator7", "too similar to the username"),
        ("ann", "3141592653", "entirely numeric"),
    ],
)
def test_create_user_refuses_weak_passwords_in_one_line(username, password, reason):
    with pytest.raises(CommandError) as error:
        create_user("--username", username, "--password", password, "--role", "annotator")
    assert str(error.value).startswith("password: ") and reason in str(error.value)
    assert "\n" not in str(error.value)
    assert not get_user_model().objects.filter(username=username).exists()


@pytest.mark.parametrize(
    "username, reason",
    [
        ("<b>ann</b>", "markup"),
        ("ann&co", "markup"),
        ('ann"', "markup"),
        ("ann smith", "spaces"),
        ("ann ", "spaces"),
        (" ann", "spaces"),
        ("ann\u00a0", "spaces"),
        ("ann\u2003", "spaces"),
        ("ann\x07", "control or invisible"),
        ("ann\u200b", "control or invisible"),
        ("a" * 151, "at most 150 characters"),
    ],
)
def test_create_user_refuses_bad_usernames_in_one_line(username, reason):
    with pytest.raises(CommandError) as error:
        create_user("--username", username, "--password", "a-fine-passphrase", "--role", "annotator")
    assert str(error.value).startswith("username: ") and reason in str(error.value)
    assert "\n" not in str(error.value)


def test_create_user_takes_a_150_character_username():
    assert '"username"' in create_user(
        "--username", "a" * 150, "--password", "a-fine-passphrase", "--role", "annotator"
    )


def test_admins_are_staff_in_the_platform_admins_group_not_superusers():
    admin = user_create(username="boss", password="boss-passphrase", role="admin")
    assert admin.is_staff and not admin.is_superuser
    assert admin.groups.filter(name=PLATFORM_ADMINS_GROUP).exists()
    assert admin.has_perm("annotation.change_job") and admin.has_perm("annotation.view_comparison")
    assert not admin.has_perm("auth.change_user")  # cannot make themselves superusers
    # the group is made once, however many admins there are
    user_create(username="boss2", password="boss-passphrase", role="admin")
    assert admin.groups.model.objects.filter(name=PLATFORM_ADMINS_GROUP).count() == 1


def test_an_admin_passes_the_admin_api_the_dashboard_and_the_django_admin():
    admin = user_create(username="boss", password="boss-passphrase", role="admin")
    assert client_for(admin).get("/api/batches/").status_code == 200
    browser = Client()
    browser.force_login(admin)
    assert browser.get("/dashboard/").status_code == 200
    assert browser.get("/admin/annotation/job/").status_code == 200
    assert browser.get("/admin/auth/user/").status_code == 403


def test_the_django_admin_enforces_the_password_rules():
    browser = Client()
    browser.force_login(get_user_model().objects.create_superuser("root", password="root-passphrase"))
    answer = browser.post(
        "/admin/auth/user/add/",
        {"username": "newbie", "password1": "password", "password2": "password", "usable_password": "true"},
    )
    assert answer.status_code == 200 and b"This password is too common" in answer.content
    assert not get_user_model().objects.filter(username="newbie").exists()


# -- Content-Security-Policy on staff pages --------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/dashboard/", "/admin/", "/admin/annotation/job/", "/admin/login/"])
def test_dashboard_and_admin_pages_send_a_content_security_policy(url):
    browser = Client()
    if url != "/admin/login/":
        browser.force_login(AdminFactory())
    answer = browser.get(url)
    policy = answer.headers["Content-Security-Policy"]
    assert answer.status_code == 200
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-eval" not in policy


# -- the demo's accounts ---------------------------------------------------------------------------------------------


def test_bootstrap_demo_accounts_pass_the_rules_and_an_earlier_releases_are_moved_on(smollm2_dir, settings):
    from annotation.management.commands.bootstrap_demo import ACCOUNTS

    settings.MODEL_DIR = smollm2_dir.parent
    User = get_user_model()
    old_admin = User.objects.create_superuser("admin", password="admin")  # as earlier releases made it
    out = StringIO()
    call_command("bootstrap_demo", stdout=out, stderr=StringIO())
    logins = {row["username"]: row["password"] for row in json.loads(out.getvalue().splitlines()[-1])["logins"]}
    assert logins == {username: password for username, password, _ in ACCOUNTS}
    for username, password in logins.items():
        assert token_login(username, password).status_code == 200
    old_admin.refresh_from_db()
    assert (
        old_admin.is_staff
        and not old_admin.is_superuser
        and old_admin.groups.filter(name=PLATFORM_ADMINS_GROUP).exists()
    )
