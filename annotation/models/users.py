"""An account's role on the platform (Profile)."""

from django.conf import settings
from django.db import models

from annotation.models.choices import Role


class Profile(models.Model):
    """An account's role on the platform. Admins are also Django staff."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    # Tracks this person may annotate in; empty means every track.
    tracks = models.JSONField(default=list, blank=True)
    # Stable pseudonym used in exports instead of the username.
    pseudonym = models.CharField(max_length=32, unique=True)
    trusted = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"
