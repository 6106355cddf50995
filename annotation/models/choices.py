"""The choices the models share: tracks, roles, preference strengths, safety bins and generation backends."""

from django.db import models


class Track(models.TextChoices):
    HELPFULNESS = "helpfulness"
    SAFETY = "safety"


class Role(models.TextChoices):
    ANNOTATOR = "annotator"
    ADMIN = "admin"


class Strength(models.TextChoices):
    SIGNIFICANTLY_BETTER = "significantly_better", "Significantly better"
    BETTER = "better", "Better"
    SLIGHTLY_BETTER = "slightly_better", "Slightly better"
    NEGLIGIBLY_BETTER = "negligibly_better", "Negligibly better / unsure"


class SafetyBin(models.TextChoices):
    CHOSEN_SAFE_OTHER_UNSAFE = "chosen_safe_other_unsafe"
    BOTH_SAFE = "both_safe"
    BOTH_UNSAFE = "both_unsafe"


class GenerationBackend(models.TextChoices):
    """How a policy's samples are made (reward_training/generation/backends.py)."""

    LOCAL = "local", "local (in-process, from path)"
    OPENAI = "openai", "openai (an OpenAI-compatible server at endpoint_url)"
