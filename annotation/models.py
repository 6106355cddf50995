"""The data of the Llama 2 preference protocol (Llama 2 paper, section 3.2.1).

Models hold fields and database constraints; the logic lives in services.py and selectors.py.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


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


class GenerationBackend(models.TextChoices):
    """How a policy's samples are made (reward_training/generation/backends.py)."""

    LOCAL = "local", "local (in-process, from path)"
    OPENAI = "openai", "openai (an OpenAI-compatible server at endpoint_url)"


class ModelVersion(models.Model):
    """A policy or reward-model checkpoint, with where it came from.

    A policy is sampled in-process from `path` (backend local), or by an OpenAI-compatible server
    (backend openai: vLLM, SGLang, TGI...) at `endpoint_url` under `served_name`, with `path`
    optional beside it (where its weights are, for training from it)."""

    class Kind(models.TextChoices):
        POLICY = "policy"
        REWARD = "reward"

    name = models.CharField(max_length=128, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Reward models belong to a track; policies have track "" (so one current policy is unique).
    track = models.CharField(max_length=16, choices=Track.choices, blank=True, default="")
    path = models.CharField(max_length=1024, blank=True, default="")
    backend = models.CharField(max_length=16, choices=GenerationBackend.choices, default=GenerationBackend.LOCAL)
    endpoint_url = models.CharField(
        max_length=1024,
        blank=True,
        default="",
        help_text="openai backend: the server's base URL, e.g. http://vllm:8000/v1",
    )
    served_name = models.CharField(
        max_length=256, blank=True, default="", help_text="openai backend: the model name the server serves it under"
    )
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    is_current = models.BooleanField(default=False)
    # What it was trained on: batches, imported sources, data manifests, reward models used.
    lineage = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "track"], condition=Q(is_current=True), name="one_current_version_per_kind_track"
            ),
            models.CheckConstraint(
                condition=(Q(kind="policy", track="") | Q(kind="reward", track__in=["helpfulness", "safety"])),
                name="reward_models_have_a_track",
            ),
            models.CheckConstraint(
                condition=(Q(backend="local") & ~Q(path="") & Q(endpoint_url="", served_name=""))
                | (Q(backend="openai", kind="policy") & ~Q(endpoint_url="") & ~Q(served_name="")),
                name="model_version_backend_complete",
                violation_error_message="a local model version needs a path (and no endpoint); an openai one is a "
                "policy with an endpoint URL and a served name",
            ),
        ]

    def __str__(self) -> str:
        return self.name


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


class Guideline(models.Model):
    """Annotation guidelines in markdown: one track-wide text per track, plus an optional addendum per batch."""

    track = models.CharField(max_length=16, choices=Track.choices)
    # Empty: the track's standing guidelines. Set: what this batch adds to them.
    batch = models.OneToOneField(Batch, null=True, blank=True, on_delete=models.CASCADE, related_name="guideline")
    body = models.TextField(help_text="Markdown. Raw HTML is shown as text, never run.")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["track", "batch_id"]
        constraints = [
            models.UniqueConstraint(fields=["track"], condition=Q(batch__isnull=True), name="one_guideline_per_track"),
        ]

    def __str__(self) -> str:
        return f"{self.track} guidelines" + (f" for {self.batch}" if self.batch_id else "")


class TurnReport(models.Model):
    """An annotator skipped a turn, or reported it (offensive, broken, identical responses), with a reason."""

    class Reason(models.TextChoices):
        SKIP = "skip", "Skip (no problem, just pass)"
        OFFENSIVE = "offensive", "Offensive content"
        BROKEN = "broken", "Broken or unreadable responses"
        IDENTICAL = "identical", "Identical responses"
        OTHER = "other", "Other"

    turn = models.OneToOneField(Turn, on_delete=models.CASCADE, related_name="report")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="turn_reports")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    note = models.TextField(blank=True, default="")
    resolved = models.BooleanField(default=False, help_text="An admin has looked at it.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(reason__in=["skip", "offensive", "broken", "identical", "other"]),
                name="turn_report_reason_valid",
            ),
        ]


class OverlapItem(models.Model):
    """An admin-supplied prompt with one pre-generated sample pair, judged by up to `batch.overlap_k` annotators.

    The pair lives on `source_turn` (sampled by the ordinary sampling task, in a dialogue of the
    uploader's); each assignment copies it into a turn of the annotator's own. Gold items carry the
    known answer as the label of the better sample on the source turn.
    """

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="overlap_items")
    prompt = models.TextField()
    source_turn = models.OneToOneField(Turn, on_delete=models.PROTECT, related_name="overlap_item")
    gold_label = models.CharField(max_length=1, choices=Sample.Label.choices, null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(gold_label__isnull=True) | Q(gold_label__in=["a", "b"]), name="overlap_gold_label_valid"
            ),
        ]


class OverlapAssignment(models.Model):
    """One annotator's lease on an overlap item, and the turn of theirs that holds the item's pair.

    `swapped` says whether the source's sample A is shown as B. A lease is live while `expired_at`
    is null; live leases hold distinct slots 0..k-1, so the database itself refuses a (k+1)-th.
    """

    item = models.ForeignKey(OverlapItem, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="overlap_assignments"
    )
    turn = models.OneToOneField(Turn, on_delete=models.CASCADE, related_name="overlap_assignment")
    slot = models.PositiveIntegerField()
    swapped = models.BooleanField()
    leased_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="one_assignment_per_item_annotator"),
            models.UniqueConstraint(
                fields=["item", "slot"], condition=Q(expired_at__isnull=True), name="one_live_assignment_per_slot"
            ),
        ]
        indexes = [models.Index(fields=["expired_at", "expires_at"])]


class Job(models.Model):
    """A long piece of work started from the dashboard and run by a Celery worker: training reward
    models on the batches up to one, refreshing the policy, or measuring the current RMs on a batch.

    The row is the source of truth: a killed worker's job is picked up again (the task is redelivered,
    or the beat sweep re-queues a job whose heartbeat went quiet) and reward-model training resumes
    from its last checkpoint.
    """

    class Kind(models.TextChoices):
        TRAIN_REWARD_MODELS = "train_reward_models", "train reward models on batches up to here"
        REFRESH_POLICY = "refresh_policy", "refresh the policy (rejection sampling)"
        RM_ACCURACY = "rm_accuracy", "current reward models' accuracy on this batch"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="jobs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)  # 0..1
    stage = models.CharField(max_length=128, blank=True, default="")
    # What the job works on, fixed when it is first claimed so that a rerun resumes the same work
    # (base checkpoint, batches, pool iteration) even if the current versions changed in between.
    plan = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    # Each claim by a worker increments it; a worker writes only while the count is still its own.
    attempts = models.PositiveIntegerField(default=0)
    registered = models.ManyToManyField(ModelVersion, blank=True, related_name="jobs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(progress__gte=0) & Q(progress__lte=1), name="job_progress_in_0_1"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"
