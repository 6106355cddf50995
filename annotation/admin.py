from django import forms
from django.contrib import admin

from annotation.models import Guideline, Job, ModelVersion, OverlapAssignment, OverlapItem, Turn, TurnReport
from annotation.services.model_versions import model_version_backend_errors


class GuidelineForm(forms.ModelForm):
    class Meta:
        model = Guideline
        fields = ["track", "batch", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 24, "cols": 100})}

    def clean(self):
        cleaned = super().clean()
        batch, track = cleaned.get("batch"), cleaned.get("track")
        if batch is not None and track and batch.track != track:
            self.add_error("batch", f"batch {batch.name} belongs to the {batch.track} track")
        return cleaned


@admin.register(Guideline)
class GuidelineAdmin(admin.ModelAdmin):
    """Admins write the guidelines in markdown: one standing text per track, and an addendum per batch.
    Without a standing text the annotators see the built-in one (templates/annotation/guidelines/)."""

    form = GuidelineForm
    list_display = ["__str__", "track", "batch", "updated_by", "updated_at"]
    list_filter = ["track"]
    readonly_fields = ["updated_by", "updated_at"]

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)


class ModelVersionForm(forms.ModelForm):
    class Meta:
        model = ModelVersion
        fields = [
            "name",
            "kind",
            "track",
            "backend",
            "path",
            "endpoint_url",
            "served_name",
            "parent",
            "lineage",
            "metrics",
        ]

    def clean(self):
        """The register_model rules: a local version needs a model directory, an openai one a server (a path
        is checked only when it changed: the web machine need not see the workers' disks)."""
        cleaned = super().clean()
        backend, endpoint = cleaned.get("backend"), cleaned.get("endpoint_url", "")
        if backend == "local" and (endpoint or cleaned.get("served_name")):
            self.add_error("endpoint_url", "a local model version has no endpoint: choose the openai backend")
        elif backend == "openai" and not endpoint:
            self.add_error("endpoint_url", "the openai backend needs the server's base URL")
        path = cleaned.get("path", "")
        errors = model_version_backend_errors(
            kind=cleaned.get("kind", ""), path=path, endpoint_url=endpoint, served_name=cleaned.get("served_name", "")
        )
        if path and "path" not in self.changed_data:
            errors.pop("path", None)
        for field, messages in errors.items():
            field = {"endpoint": "endpoint_url"}.get(field, field)
            if field not in self.errors:
                self.add_error(field, messages)
        return cleaned


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    """The registry. A policy samples in-process from `path` (backend local) or from an OpenAI-compatible
    server (backend openai: endpoint URL and served name). Make a version current with `manage.py set_current`."""

    form = ModelVersionForm
    list_display = [
        "name",
        "kind",
        "track",
        "backend",
        "endpoint_url",
        "served_name",
        "path",
        "is_current",
        "created_at",
    ]
    list_filter = ["kind", "track", "backend", "is_current"]
    search_fields = ["name", "path", "endpoint_url", "served_name"]
    raw_id_fields = ["parent"]


@admin.register(TurnReport)
class TurnReportAdmin(admin.ModelAdmin):
    """Turns annotators skipped or reported, with their reason."""

    list_display = ["created_at", "reason", "note", "annotator", "turn_link", "resolved"]
    list_filter = ["reason", "resolved", "turn__dialogue__track"]
    list_editable = ["resolved"]
    search_fields = ["note", "annotator__username", "turn__prompt"]
    readonly_fields = ["turn", "annotator", "reason", "note", "created_at", "prompt", "responses"]
    fields = ["turn", "annotator", "reason", "note", "prompt", "responses", "resolved", "created_at"]

    @admin.display(description="turn")
    def turn_link(self, report):
        return f"turn {report.turn_id} (dialogue {report.turn.dialogue_id})"

    @admin.display(description="prompt")
    def prompt(self, report):
        return report.turn.prompt

    @admin.display(description="responses")
    def responses(self, report):
        return "\n\n".join(f"{s.label.upper()}: {s.text}" for s in report.turn.samples.all()) or "(none sampled)"

    def has_add_permission(self, request):
        return False


@admin.register(Turn)
class TurnAdmin(admin.ModelAdmin):
    """Turns, read-only: a failed one shows the reason its annotator saw and, in `error_detail`, the
    exception and traceback behind it. To sample a failed turn again use its retry (dashboard or API)."""

    list_display = ["pk", "dialogue", "index", "status", "error", "sampling_attempts", "created_at"]
    list_filter = ["status", "dialogue__track"]
    search_fields = ["prompt", "error", "error_detail"]
    fields = [
        "dialogue",
        "index",
        "status",
        "prompt",
        "error",
        "error_detail",
        "sampling_attempts",
        "sampling_queued_at",
        "sampling_plan",
        "created_at",
        "ready_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # a turn's comparison would go with it


@admin.register(OverlapItem)
class OverlapItemAdmin(admin.ModelAdmin):
    """Overlap and gold items (issue 6): raw edits; the dashboard uploads them and sets gold answers."""

    list_display = ["id", "batch", "prompt", "gold_label", "created_at"]
    list_filter = ["batch"]
    search_fields = ["prompt"]
    raw_id_fields = ["source_turn"]


@admin.register(OverlapAssignment)
class OverlapAssignmentAdmin(admin.ModelAdmin):
    """Leases of overlap items; set `expired_at` to return an item to the pool by hand."""

    list_display = ["id", "item", "annotator", "slot", "swapped", "leased_at", "expires_at", "expired_at"]
    list_filter = ["item__batch"]
    raw_id_fields = ["item", "turn"]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Dashboard jobs, for raw edits. To run a failed job again, set it back to queued with attempts 0
    (the sweep re-queues it); a rerun resumes what its first run left (checkpoints, registered versions)."""

    list_display = ["pk", "kind", "batch", "status", "progress", "stage", "attempts", "created_at", "finished_at"]
    list_filter = ["kind", "status"]
    raw_id_fields = ["batch", "created_by"]
    filter_horizontal = ["registered"]
