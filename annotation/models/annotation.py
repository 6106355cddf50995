"""The preference protocol's data (Llama 2 paper, section 3.2.1): a batch, its dialogues, each turn's two
sampled responses and the annotator's comparison of them."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotation.models.choices import GenerationBackend, SafetyBin, Strength, Track
from annotation.models.model_versions import ModelVersion


class Batch(models.Model):
    """A (weekly) collection round in one track, sampling from named policy versions."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        ACTIVE = "active"
        CLOSED = "closed"

    class ExportPolicy(models.TextChoices):
        ALL = "all", "Everything except rejected"
        APPROVED = "approved", "Approved only"
        APPROVED_OR_TRUSTED = "approved_or_trusted", "Approved, or by a trusted annotator"

    name = models.CharField(max_length=128, unique=True)
    track = models.CharField(max_length=16, choices=Track.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    policy_versions = models.ManyToManyField(ModelVersion, related_name="batches")
    temperature_min = models.FloatField()
    temperature_max = models.FloatField()
    top_p = models.FloatField(default=0.9)
    max_new_tokens = models.PositiveIntegerField(default=128)
    target_comparisons = models.PositiveIntegerField()
    overlap_fraction = models.FloatField(default=0.0)
    # Overlap items (issue 6): how many annotators judge each item, and how long a lease lasts.
    overlap_k = models.PositiveIntegerField(default=3)
    overlap_lease_s = models.PositiveIntegerField(default=1800)
    system_prompt = models.TextField(blank=True, default="")
    export_policy = models.CharField(max_length=32, choices=ExportPolicy.choices, default=ExportPolicy.ALL)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["track"], condition=Q(status="active"), name="one_active_batch_per_track"),
            models.CheckConstraint(
                condition=Q(temperature_min__gt=0) & Q(temperature_min__lt=models.F("temperature_max")),
                name="batch_temperature_range_valid",
            ),
            models.CheckConstraint(
                condition=Q(overlap_fraction__gte=0) & Q(overlap_fraction__lte=1), name="batch_overlap_fraction_valid"
            ),
            models.CheckConstraint(condition=Q(top_p__gt=0) & Q(top_p__lte=1), name="batch_top_p_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class Dialogue(models.Model):
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="dialogues")
    track = models.CharField(max_length=16, choices=Track.choices)
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="dialogues")
    system_prompt = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class Turn(models.Model):
    """One user prompt of a dialogue and its two sampled responses."""

    class Status(models.TextChoices):
        SAMPLING = "sampling"
        READY = "ready"
        ANNOTATED = "annotated"
        FAILED = "failed"

    dialogue = models.ForeignKey(Dialogue, on_delete=models.CASCADE, related_name="turns")
    index = models.PositiveIntegerField()
    prompt = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SAMPLING)
    error = models.TextField(blank=True, default="")  # the reason the annotator sees, in plain words
    # What went wrong, for admins (exception and traceback); never shown to the annotator.
    error_detail = models.TextField(blank=True, default="")
    # The two variants to sample (model, temperature, seed, label), fixed when sampling is first
    # planned, so a redelivered task reproduces the same pair.
    sampling_plan = models.JSONField(null=True, blank=True)
    # The texts sampled so far while the worker decodes ({"a": "...", "b": "..."}), for the annotator
    # to watch; null before the first token and once the turn has left `sampling`.
    partial_responses = models.JSONField(null=True, blank=True)
    sampling_attempts = models.PositiveIntegerField(default=0)
    sampling_queued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["index"]
        constraints = [
            models.UniqueConstraint(fields=["dialogue", "index"], name="one_turn_per_dialogue_index"),
        ]
        indexes = [models.Index(fields=["status", "sampling_queued_at"])]


class Sample(models.Model):
    """One sampled response, with the model version and settings that produced it."""

    class Label(models.TextChoices):
        A = "a"
        B = "b"

    turn = models.ForeignKey(Turn, on_delete=models.CASCADE, related_name="samples")
    label = models.CharField(max_length=1, choices=Label.choices)
    text = models.TextField()
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="samples")
    temperature = models.FloatField()
    top_p = models.FloatField()
    max_new_tokens = models.PositiveIntegerField()
    seed = models.BigIntegerField()  # the seed sent to the backend (an openai server's need not reproduce)
    backend = models.CharField(max_length=16, choices=GenerationBackend.choices, default=GenerationBackend.LOCAL)
    prompt_tokens = models.PositiveIntegerField()
    completion_tokens = models.PositiveIntegerField()
    generation_seconds = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["label"]
        constraints = [models.UniqueConstraint(fields=["turn", "label"], name="one_sample_per_turn_label")]

    @property
    def sampling(self) -> dict:
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_new_tokens": self.max_new_tokens,
            "seed": self.seed,
        }


class Comparison(models.Model):
    """The annotator's judgement of a turn's two samples. One per turn."""

    class Review(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"

    turn = models.OneToOneField(Turn, on_delete=models.CASCADE, related_name="comparison")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="comparisons")
    chosen = models.CharField(max_length=1, choices=Sample.Label.choices)
    strength = models.CharField(max_length=32, choices=Strength.choices)
    a_safe = models.BooleanField(null=True, blank=True)
    b_safe = models.BooleanField(null=True, blank=True)
    safety_bin = models.CharField(max_length=32, choices=SafetyBin.choices, null=True, blank=True)
    # Chosen response unsafe while the other is safe: kept, flagged for review, never exported.
    unsafe_chosen = models.BooleanField(default=False)
    time_spent_ms = models.PositiveIntegerField()
    review_status = models.CharField(max_length=16, choices=Review.choices, default=Review.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(chosen__in=["a", "b"]), name="comparison_chosen_valid"),
            models.CheckConstraint(condition=Q(strength__in=Strength.values), name="comparison_strength_valid"),
            models.CheckConstraint(
                condition=Q(safety_bin__isnull=True) | Q(safety_bin__in=SafetyBin.values),
                name="comparison_safety_bin_valid",
            ),
            models.CheckConstraint(
                condition=~(Q(unsafe_chosen=True) & Q(safety_bin__isnull=False)),
                name="unsafe_chosen_pairs_have_no_bin",
            ),
        ]
