"""Open-source preference pairs imported beside the platform's own (ImportedPair)."""

from django.db import models

from annotation.models.choices import SafetyBin, Strength, Track


class ImportedPair(models.Model):
    """An open-source preference pair (e.g. Anthropic HH), exported beside the platform's own."""

    source = models.CharField(max_length=128)
    track = models.CharField(max_length=16, choices=Track.choices)
    prompt = models.JSONField()  # messages, ending with the user turn
    chosen = models.TextField()
    rejected = models.TextField()
    strength = models.CharField(max_length=32, choices=Strength.choices, null=True, blank=True)
    safety_bin = models.CharField(max_length=32, choices=SafetyBin.choices, null=True, blank=True)
    content_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["source", "track"])]
