"""The database side of sampling a turn's two responses. The worker task calls these around generation.

Flow: `turn_sampling_begin` plans the two variants (once; a redelivered task reuses the plan) →
the worker generates, publishing the texts so far with `turn_sampling_progress` → `turn_samples_save`
stores both samples and marks the turn ready, unless another delivery got there first.
`turns_requeue_stuck` is the beat-driven sweep for turns whose worker died.

Embedded mode (no broker: CELERY_TASK_ALWAYS_EAGER) runs the task on a background thread of the
web process when SAMPLING_EAGER_IN_THREAD is on (the default), so the request that queued it
returns at once and the page can watch the texts grow; with it off the task runs inline.
"""

import logging
import random
from dataclasses import asdict, dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotation.models import ModelVersion, Sample, Turn
from annotation.selectors.dialogues import turn_messages
from annotation.services.queueing import TURN_SAMPLE, task_get, task_send

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamplingVariant:
    label: str  # "a" or "b": the server's random A/B assignment
    model_version_id: int
    model_name: str
    model_path: str
    temperature: float
    top_p: float
    max_new_tokens: int
    seed: int
    # Which generation backend samples it (reward_training/generation/backends.py); the defaults let a
    # plan written before backends existed load as the local one it was.
    backend: str = "local"
    endpoint_url: str = ""
    served_name: str = ""


@dataclass(frozen=True)
class SamplingRequest:
    """What a worker needs to sample a turn: its messages and the two variants (not a dashboard Job)."""

    turn_id: int
    messages: list[dict]
    variants: list[SamplingVariant]


@dataclass(frozen=True)
class GeneratedSample:
    label: str
    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float


def turn_sampling_enqueue(*, turn_id: int) -> None:
    """Queue the sampling task. If the broker is down the turn stays `sampling` and the sweep re-queues it."""
    from worker.broker import sampling_task_id

    if settings.CELERY_TASK_ALWAYS_EAGER and getattr(settings, "SAMPLING_EAGER_IN_THREAD", True):
        from worker.background import background_submit

        background_submit(task_get(TURN_SAMPLE), turn_id)
        return
    try:
        task_send(TURN_SAMPLE, args=[turn_id], queue=settings.SAMPLING_QUEUE, task_id=sampling_task_id(turn_id))
    except Exception:  # the broker refused; nothing is lost, the sweep tries again
        logger.exception("could not queue sampling of turn %s; the sweep will re-queue it", turn_id)


def sampling_embedded_ensure() -> None:
    """Embedded mode: make sure this process's sampling thread runs, so that it re-queues a turn an
    earlier process left `sampling` (see worker/background.py). A no-op with a real broker."""
    if settings.CELERY_TASK_ALWAYS_EAGER and getattr(settings, "SAMPLING_EAGER_IN_THREAD", True):
        from worker.background import background_ensure

        background_ensure()


def sampling_plan_draw(
    *,
    versions: list[ModelVersion],
    temperature_min: float,
    temperature_max: float,
    top_p: float,
    max_new_tokens: int,
    rng: random.Random,
) -> list[SamplingVariant]:
    """Two variants per the protocol: two different model versions where the batch names several,
    and always two different temperatures (one from each half of the batch's range), A/B at random."""
    pair = rng.sample(versions, 2) if len(versions) >= 2 else [versions[0], versions[0]]
    middle = (temperature_min + temperature_max) / 2
    temperatures = [rng.uniform(temperature_min, middle), rng.uniform(middle, temperature_max)]
    if temperatures[0] == temperatures[1]:
        temperatures = [temperature_min, temperature_max]
    labels = ["a", "b"]
    rng.shuffle(labels)
    return sorted(
        (
            SamplingVariant(
                label=label,
                model_version_id=version.pk,
                model_name=version.name,
                model_path=version.path,
                temperature=round(temperature, 4),
                top_p=top_p,
                max_new_tokens=max_new_tokens,
                seed=rng.randrange(2**31),
                backend=version.backend,
                endpoint_url=version.endpoint_url,
                served_name=version.served_name,
            )
            for label, version, temperature in zip(labels, pair, temperatures)
        ),
        key=lambda v: v.label,
    )


@transaction.atomic
def turn_sampling_begin(*, turn_id: int) -> SamplingRequest | None:
    """The job for a turn still `sampling`, or None if it is done, failed or gone (so a redelivery is a no-op)."""
    turn = Turn.objects.select_for_update().select_related("dialogue__batch").filter(pk=turn_id).first()
    if turn is None or turn.status != Turn.Status.SAMPLING:
        return None
    if turn.sampling_plan is None:
        batch = turn.dialogue.batch
        variants = sampling_plan_draw(
            versions=list(batch.policy_versions.order_by("name")),
            temperature_min=batch.temperature_min,
            temperature_max=batch.temperature_max,
            top_p=batch.top_p,
            max_new_tokens=batch.max_new_tokens,
            rng=random.Random(),
        )
        turn.sampling_plan = [asdict(v) for v in variants]
    turn.sampling_queued_at = timezone.now()  # the sweep's clock restarts when a worker picks it up
    turn.partial_responses = None  # a redelivery starts its texts from the first token again
    turn.save(update_fields=["sampling_plan", "sampling_queued_at", "partial_responses"])
    return SamplingRequest(
        turn_id=turn.pk,
        messages=turn_messages(turn=turn),
        variants=[SamplingVariant(**v) for v in turn.sampling_plan],
    )


def turn_sampling_progress(*, turn_id: int, texts: dict[str, str]) -> bool:
    """Publish the texts sampled so far, by label, for the annotator to watch. False once the turn has left
    `sampling` (saved, failed or gone), when nothing is written.

    One UPDATE, with no transaction or row lock of its own, since the worker calls it several times a second.
    """
    partial = {label: text.replace("\x00", "") for label, text in texts.items() if label in Sample.Label.values}
    return Turn.objects.filter(pk=turn_id, status=Turn.Status.SAMPLING).update(partial_responses=partial) > 0


@transaction.atomic
def turn_sampling_reseed(*, turn_id: int) -> None:
    """Give both variants fresh seeds, after the two texts came out identical."""
    turn = Turn.objects.select_for_update().get(pk=turn_id)
    rng = random.Random()
    turn.sampling_plan = [{**v, "seed": rng.randrange(2**31)} for v in turn.sampling_plan]
    turn.partial_responses = None
    turn.save(update_fields=["sampling_plan", "partial_responses"])


@transaction.atomic
def turn_samples_save(*, turn_id: int, variants: list[SamplingVariant], samples: list[GeneratedSample]) -> bool:
    """Store the two samples and mark the turn `ready`. False if another delivery already did."""
    turn = Turn.objects.select_for_update().filter(pk=turn_id).first()
    if turn is None or turn.status != Turn.Status.SAMPLING or turn.samples.exists():
        return False
    by_label = {v.label: v for v in variants}
    Sample.objects.bulk_create(
        Sample(
            turn=turn,
            label=s.label,
            text=s.text.replace("\x00", ""),  # PostgreSQL text cannot hold NUL; models can emit it
            model_version_id=by_label[s.label].model_version_id,
            temperature=by_label[s.label].temperature,
            top_p=by_label[s.label].top_p,
            max_new_tokens=by_label[s.label].max_new_tokens,
            seed=by_label[s.label].seed,
            backend=by_label[s.label].backend,
            prompt_tokens=s.prompt_tokens,
            completion_tokens=s.completion_tokens,
            generation_seconds=s.seconds,
        )
        for s in samples
    )
    turn.status = Turn.Status.READY
    turn.ready_at = timezone.now()
    turn.error = turn.error_detail = ""
    turn.partial_responses = None
    turn.save(update_fields=["status", "ready_at", "error", "error_detail", "partial_responses"])
    return True


# What an annotator reads when the model raised: the exception itself goes to the log and the admin.
SAMPLING_FAILED_REASON = "The model could not produce a reply; an admin has the details."
ERROR_DETAIL_MAX_CHARS = 20_000


@transaction.atomic
def turn_sampling_fail(*, turn_id: int, reason: str, detail: str = "") -> None:
    """Mark a turn `failed` with a plain reason the annotator sees, and the technical detail (exception,
    traceback) only admins see; the retry endpoint samples it again."""
    Turn.objects.filter(pk=turn_id, status=Turn.Status.SAMPLING).update(
        status=Turn.Status.FAILED,
        error=reason[:2000],
        error_detail=detail[-ERROR_DETAIL_MAX_CHARS:],
        partial_responses=None,
    )


def turns_requeue_stuck(*, older_than_s: float | None = None) -> dict:
    """Re-queue turns whose sampling message was lost; fail those out of attempts.

    With a Redis broker the sweep asks it what it holds (worker/broker.py), turn by turn:
    - a message waiting in the queue: "queued", left alone however long the backlog (no duplicate
      delivery, no attempt spent);
    - a message a worker holds: left alone while the worker can still be alive, i.e. for
      `older_than_s` (SAMPLING_REQUEUE_AFTER_S, past the task's hard time limit) since it began;
    - no message at all (queued while the broker was down, lost by a Redis restart) for
      SAMPLING_LOST_AFTER_S: "lost", re-queued at once.
    With the broker unreachable nothing is re-queued (it could not be); the next sweep looks again.
    Without a broker to ask (embedded mode) every turn older than `older_than_s` is re-queued.
    """
    from worker.broker import sampling_messages

    older_than_s = settings.SAMPLING_REQUEUE_AFTER_S if older_than_s is None else older_than_s
    now = timezone.now()
    stale_cutoff = now - timedelta(seconds=older_than_s)
    lost_cutoff = now - timedelta(seconds=settings.SAMPLING_LOST_AFTER_S)
    requeued, failed, queued = [], [], 0
    with transaction.atomic():
        candidates = list(
            Turn.objects.select_for_update(skip_locked=True).filter(
                status=Turn.Status.SAMPLING, sampling_queued_at__lt=lost_cutoff
            )
        )
        if not candidates:
            return {"requeued": [], "failed": [], "queued": 0}
        # asked with the rows locked: a worker saving one of them waits, so its message is still held
        try:
            broker = sampling_messages()
        except Exception:  # redis's ConnectionError/TimeoutError: nothing can be queued now anyway
            logger.warning("the sweep could not reach the broker; it looks again next time", exc_info=True)
            return {"requeued": [], "failed": [], "queued": 0, "broker": "unreachable"}
        for turn in candidates:
            if broker is None:
                lost = turn.sampling_queued_at < stale_cutoff
            elif turn.pk in broker.waiting:
                queued += 1
                continue
            else:
                lost = turn.pk not in broker.held or turn.sampling_queued_at < stale_cutoff
            if not lost:
                continue
            if turn.sampling_attempts >= settings.SAMPLING_MAX_ATTEMPTS:
                turn.status = Turn.Status.FAILED
                turn.error = f"sampling did not finish after {turn.sampling_attempts} attempts"
                turn.partial_responses = None
                turn.save(update_fields=["status", "error", "partial_responses"])
                failed.append(turn.pk)
            else:
                turn.sampling_attempts += 1
                turn.sampling_queued_at = timezone.now()
                turn.save(update_fields=["sampling_attempts", "sampling_queued_at"])
                requeued.append(turn.pk)
        for turn_id in requeued:
            transaction.on_commit(lambda turn_id=turn_id: turn_sampling_enqueue(turn_id=turn_id))
    return {"requeued": requeued, "failed": failed, "queued": queued}
