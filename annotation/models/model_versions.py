"""The policy and reward-model checkpoints (ModelVersion), with their lineage and how they are served."""

from django.db import models
from django.db.models import Q

from annotation.models.choices import GenerationBackend, Track


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
