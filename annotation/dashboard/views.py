"""Staff-only pages. Each view reads through a selector or writes through a service, then renders a template."""

import json

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from annotation.dashboard import charts
from annotation.dashboard.forms import BatchCreateForm, OverlapUploadForm
from annotation.errors import Conflict
from annotation.models import Batch, Comparison, Job, ModelVersion, OverlapItem, Strength
from annotation.selectors.exports import preference_export_rows
from annotation.selectors.jobs import SAFETY_BIN_LABELS, batch_jobs, rm_accuracy_latest, rm_accuracy_rows
from annotation.selectors.model_version_page import (
    model_version_curves,
    model_version_files,
    model_version_lineage,
    model_version_rm_accuracy,
    model_version_win_rates,
    policy_win_rate_curve,
)
from annotation.selectors.review import review_queue
from annotation.selectors.stats import annotator_stats, batch_stats
from annotation.services.batches import batch_activate, batch_close, batch_create
from annotation.services.dialogues import turn_retry
from annotation.services.jobs import job_cancel, job_start
from annotation.services.model_versions import model_version_set_current
from annotation.services.quality import (
    annotator_trust_set,
    batch_overlap_configure,
    comparisons_review,
    overlap_item_gold_set,
    overlap_items_upload,
)


def _errors(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(f"{field}: {' '.join(m)}" for field, m in error.message_dict.items())
    return " ".join(error.messages)


@staff_member_required
def batch_list(request):
    batches = Batch.objects.annotate(comparisons=Count("dialogues__turns__comparison")).order_by("track", "-created_at")
    form = BatchCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        overlap_k = data.pop("overlap_k")
        data["policy_versions"] = [v.name for v in data["policy_versions"]]
        try:
            batch = batch_create(created_by=request.user, **data)
            batch_overlap_configure(batch=batch, overlap_k=overlap_k)
        except ValidationError as error:
            messages.error(request, _errors(error))
        else:
            messages.success(request, f"Batch {batch.name} created (draft).")
            return redirect("dashboard:batch", batch_id=batch.pk)
    rows = [
        {"batch": b, "progress": b.comparisons / b.target_comparisons if b.target_comparisons else 0} for b in batches
    ]
    curve = policy_win_rate_curve()
    return render(request, "dashboard/batches.html", {"rows": rows, "form": form, "win_rates": curve})


@staff_member_required
def win_rate_curve_chart(request):
    return HttpResponse(charts.win_rate_curve_chart(policy_win_rate_curve()), content_type="image/png")


@staff_member_required
def batch_detail(request, batch_id: int):
    batch = get_object_or_404(Batch, pk=batch_id)
    stats = batch_stats(batch=batch)
    accuracy = rm_accuracy_latest(batch=batch)
    items = (
        OverlapItem.objects.filter(batch=batch)
        .select_related("source_turn")
        .prefetch_related("source_turn__samples")
        .annotate(assigned=Count("assignments"))
    )
    return render(
        request,
        "dashboard/batch.html",
        {
            "batch": batch,
            "stats": stats,
            "items": items,
            "upload_form": OverlapUploadForm(),
            "charts": list(charts.CHARTS),
            "stats_json": json.dumps(stats, indent=1, default=str),
            "jobs": batch_jobs(batch=batch),
            "job_kinds": Job.Kind.choices,
            "rm_accuracy": accuracy,
            "rm_accuracy_rows": rm_accuracy_rows(job=accuracy) if accuracy else [],
            "strengths": Strength.labels,
            "safety_bins": SAFETY_BIN_LABELS.values() if batch.track == "safety" else [],
        },
    )


@staff_member_required
def batch_chart(request, batch_id: int, name: str):
    chart = charts.CHARTS.get(name)
    if chart is None:
        return HttpResponse(status=404)
    png = chart(batch_stats(batch=get_object_or_404(Batch, pk=batch_id)))
    return HttpResponse(png, content_type="image/png")


@staff_member_required
@require_POST
def batch_action(request, batch_id: int, action: str):
    batch = get_object_or_404(Batch, pk=batch_id)
    try:
        if action == "activate":
            batch_activate(batch=batch)
        elif action == "close":
            batch_close(batch=batch)
        elif action == "overlap":
            form = OverlapUploadForm(request.POST)
            if form.is_valid():
                items = overlap_items_upload(batch=batch, prompts=form.prompt_list(), created_by=request.user)
                messages.success(request, f"{len(items)} overlap item(s) added; their pairs are being sampled.")
        elif action == "resample":  # an item whose pair failed to sample
            item = get_object_or_404(OverlapItem, pk=request.POST.get("item"), batch=batch)
            turn_retry(turn=item.source_turn)
        elif action == "gold":
            item = get_object_or_404(OverlapItem, pk=request.POST.get("item"), batch=batch)
            overlap_item_gold_set(item=item, label=request.POST.get("gold_label") or None)
        else:
            return HttpResponse(status=404)
    except ValidationError as error:
        messages.error(request, _errors(error))
    except Conflict as error:
        messages.error(request, str(error))
    return redirect("dashboard:batch", batch_id=batch.pk)


@staff_member_required
def batch_export(request, batch_id: int):
    """The batch's export (the same rows as GET /api/batches/{id}/export/), as a JSONL download."""
    batch = get_object_or_404(Batch, pk=batch_id)
    rows = preference_export_rows(batches=[batch.name])
    response = StreamingHttpResponse(
        (json.dumps(row, ensure_ascii=False) + "\n" for row in rows), content_type="application/jsonl"
    )
    response["Content-Disposition"] = f'attachment; filename="{batch.name}.jsonl"'
    return response


@staff_member_required
def review(request, batch_id: int):
    batch = get_object_or_404(Batch, pk=batch_id)
    if request.method == "POST":
        ids = [int(i) for i in request.POST.getlist("comparison") if i.isdigit()]
        try:
            changed = comparisons_review(comparison_ids=ids, status=request.POST.get("status", ""))
            messages.success(request, f"{changed} comparison(s) marked {request.POST.get('status')}.")
        except ValidationError as error:
            messages.error(request, _errors(error))
        return redirect(f"{request.path}?status={request.GET.get('status', 'pending')}")
    wanted = request.GET.get("status", Comparison.Review.PENDING)
    if wanted not in Comparison.Review.values:
        wanted = Comparison.Review.PENDING
    return render(
        request,
        "dashboard/review.html",
        {"batch": batch, "queue": review_queue(batch=batch, status=wanted), "statuses": Comparison.Review.values},
    )


@staff_member_required
def annotator_detail(request, user_id: int):
    user = get_object_or_404(get_user_model(), pk=user_id)
    if request.method == "POST":
        annotator_trust_set(user=user, trusted=request.POST.get("trusted") == "1")
        return redirect("dashboard:annotator", user_id=user.pk)
    return render(request, "dashboard/annotator.html", {"person": user, "stats": annotator_stats(user=user)})


@staff_member_required
def annotator_chart(request, user_id: int):
    stats = annotator_stats(user=get_object_or_404(get_user_model(), pk=user_id))
    return HttpResponse(charts.drift_chart(stats), content_type="image/png")


@staff_member_required
@require_POST
def job_create(request, batch_id: int):
    batch = get_object_or_404(Batch, pk=batch_id)
    try:
        job = job_start(kind=request.POST.get("kind", ""), batch=batch, created_by=request.user)
    except ValidationError as error:
        messages.error(request, _errors(error))
    except Conflict as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Job #{job.pk} queued: {job.get_kind_display()}.")
        return redirect("dashboard:job", job_id=job.pk)
    return redirect("dashboard:batch", batch_id=batch.pk)


@staff_member_required
def job_detail(request, job_id: int):
    job = get_object_or_404(Job.objects.select_related("batch", "created_by"), pk=job_id)
    before = job.kind == Job.Kind.TRAIN_REWARD_MODELS
    accuracy = rm_accuracy_rows(job=job, part="accuracy_before_retraining" if before else None)
    for row in accuracy if before else []:  # beside each measured RM, the one trained to replace it
        row["retrained_as"] = (job.result.get("reward_models") or {}).get(row["track"])
        row["retrained_pairs"] = ((job.result.get("metrics") or {}).get(row["track"]) or {}).get("n_train_pairs")
    return render(
        request,
        "dashboard/job.html",
        {
            "job": job,
            "registered": job.registered.order_by("kind", "track"),
            "result_json": json.dumps(job.result, indent=1, default=str),
            "rm_accuracy_rows": accuracy if job.kind in (Job.Kind.RM_ACCURACY, Job.Kind.TRAIN_REWARD_MODELS) else [],
            "strengths": Strength.labels,
            "safety_bins": SAFETY_BIN_LABELS.values(),
        },
    )


@staff_member_required
@require_POST
def job_cancel_view(request, job_id: int):
    try:
        job_cancel(job=get_object_or_404(Job, pk=job_id), by=request.user)
    except Conflict as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Job #{job_id} cancelled.")
    return redirect("dashboard:job", job_id=job_id)


@staff_member_required
@require_POST
def model_version_make_current(request, version_id: int):
    version = get_object_or_404(ModelVersion, pk=version_id)
    model_version_set_current(version=version)
    messages.success(request, f"{version.name} is now the current {version.track or version.kind} {version.kind}.")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = reverse("dashboard:batches")
    return redirect(back)


@staff_member_required
def rm_accuracy_chart(request, job_id: int):
    job = get_object_or_404(Job, pk=job_id, kind=Job.Kind.RM_ACCURACY, status=Job.Status.SUCCEEDED)
    return HttpResponse(charts.rm_accuracy_chart(rm_accuracy_rows(job=job)), content_type="image/png")


@staff_member_required
def model_version_detail(request, version_id: int):
    """A model version: its lineage, training curves, accuracy (reward models) and win rates against its parent."""
    version = get_object_or_404(ModelVersion.objects.select_related("parent"), pk=version_id)
    tracking = (version.metrics or {}).get("tracking") or {}
    return render(
        request,
        "dashboard/model_version.html",
        {
            "version": version,
            "lineage": model_version_lineage(version=version),
            "tracking": tracking,
            "curves": list(model_version_curves(version=version)),
            "rm_accuracy_rows": model_version_rm_accuracy(version=version),
            "win_rates": model_version_win_rates(version=version),
            "strengths": Strength.labels,
            "safety_bins": SAFETY_BIN_LABELS.values(),
            "metrics_json": json.dumps(version.metrics, indent=1, default=str),
        },
    )


@staff_member_required
def model_version_curves_chart(request, version_id: int):
    curves = model_version_curves(version=get_object_or_404(ModelVersion, pk=version_id))
    return HttpResponse(charts.training_curves_chart(curves), content_type="image/png")


@staff_member_required
def model_version_files_listing(request, version_id: int):
    """The checkpoint directory's listing as a text download: one "bytes<TAB>path" line a file."""
    version = get_object_or_404(ModelVersion, pk=version_id)
    lines = [f"{size}\t{name}" for name, size in model_version_files(version=version)]
    response = HttpResponse("\n".join([f"# {version.path}", *lines]) + "\n", content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{version.name}-files.txt"'
    return response
