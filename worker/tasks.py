"""Celery tasks: thin. Each takes ids, loads rows through a service and calls plain model code.

Queues: sampling goes to the queue named by SAMPLING_QUEUE ("cpu" or "gpu"), so workers of one
device class on any number of machines share it (`celery -A webapp worker -Q gpu`).
"""

import logging
import traceback
from typing import Callable

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import OperationalError as DatabaseOperationalError

from annotation.services.jobs import job_execute, jobs_nightly_rm_accuracy, jobs_requeue_stale
from annotation.services.sampling import (
    SAMPLING_FAILED_REASON,
    GeneratedSample,
    SamplingRequest,
    turn_samples_save,
    turn_sampling_begin,
    turn_sampling_fail,
    turn_sampling_progress,
    turn_sampling_reseed,
    turns_requeue_stuck,
)

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (DatabaseOperationalError, ConnectionError, TimeoutError)


class _ProgressPublisher:
    """Publishes a turn's texts so far, by label, merged over the batched calls of its model versions.

    Publishing is best effort: an error is logged and sampling goes on (the final samples are what
    counts). Only the soft time limit passes through, so that it still stops the task.
    """

    def __init__(self, turn_id: int):
        self.turn_id = turn_id
        self.texts: dict[str, str] = {}

    def for_variants(self, variants: list) -> Callable[[list[str]], None]:
        """The on_progress callback of one batched call, whose rows are `variants` in order."""
        return lambda texts: self.publish({v.label: text for v, text in zip(variants, texts)})

    def publish(self, texts: dict[str, str]) -> None:
        self.texts.update(texts)
        try:
            turn_sampling_progress(turn_id=self.turn_id, texts=dict(self.texts))
        except SoftTimeLimitExceeded:
            raise
        except Exception:
            logger.warning("could not publish the progress of turn %s; sampling goes on", self.turn_id, exc_info=True)


def _generate(request: SamplingRequest) -> list[GeneratedSample]:
    """Both samples of a turn; one call per model version's backend (both rows when they share one).

    The texts so far are published while each call decodes, for the annotator to watch (an openai
    backend, which does not stream, publishes the final texts)."""
    from reward_training.generation import SampleSettings
    from worker.model_cache import backend_get

    by_model: dict[tuple, list] = {}
    for variant in request.variants:
        key = (variant.backend, variant.model_path, variant.endpoint_url, variant.served_name)
        by_model.setdefault(key, []).append(variant)
    publisher = _ProgressPublisher(request.turn_id)
    samples = []
    for variants in by_model.values():
        backend = backend_get(variants[0])
        outputs = backend.samples_generate(
            request.messages,
            [
                SampleSettings(temperature=v.temperature, top_p=v.top_p, max_new_tokens=v.max_new_tokens, seed=v.seed)
                for v in variants
            ],
            on_progress=publisher.for_variants(variants),
        )
        samples += [
            GeneratedSample(
                label=v.label,
                text=o.text.strip(),
                prompt_tokens=o.prompt_tokens,
                completion_tokens=o.completion_tokens,
                seconds=o.seconds,
            )
            for v, o in zip(variants, outputs)
        ]
        publisher.texts.update({s.label: s.text for s in samples})  # final, for the next call's updates
    return samples


def _model_server_down(error: Exception) -> bool:
    """An openai backend's server could not be reached or did not answer in time."""
    from reward_training.generation import GenerationUnavailable  # loaded already when _generate raised it

    return isinstance(error, GenerationUnavailable)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.SAMPLING_SOFT_TIME_LIMIT_S,
    time_limit=settings.SAMPLING_TIME_LIMIT_S,
    # A database or broker outage: retry every few seconds (1, 2, 4, then SAMPLING_RETRY_MAX_DELAY_S) for
    # SAMPLING_RETRY_BUDGET_S, so the turn is sampled seconds after a restart of minutes ends.
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=1,
    retry_backoff_max=settings.SAMPLING_RETRY_MAX_DELAY_S,
    retry_jitter=False,
    max_retries=settings.SAMPLING_TRANSIENT_RETRIES,
)
def turn_sample(self, turn_id: int) -> str:
    """Sample a turn's two responses. Idempotent: a turn already sampled (or failed) is left alone."""
    for _ in range(settings.SAMPLING_MAX_IDENTICAL_RETRIES + 1):
        request = turn_sampling_begin(turn_id=turn_id)
        if request is None:
            return "skipped"
        try:
            samples = _generate(request)
        except SoftTimeLimitExceeded:
            turn_sampling_fail(turn_id=turn_id, reason="sampling took longer than the time limit")
            return "failed"
        except (
            TRANSIENT_ERRORS
        ) as error:  # retried (autoretry_for); a model server still down after them fails the turn
            if self.request.retries >= self.max_retries and _model_server_down(error):
                turn_sampling_fail(
                    turn_id=turn_id,
                    reason=f"{error}, after {self.request.retries} retries; retry the turn once the server is up",
                    detail=traceback.format_exc(),
                )
                return "failed"
            raise
        except Exception as error:  # a model that cannot load or generate: a plain reason, the detail for admins
            logger.exception("sampling turn %s failed", turn_id)
            turn_sampling_fail(
                turn_id=turn_id,
                reason=SAMPLING_FAILED_REASON,
                detail=f"{type(error).__name__}: {error}\n\n{traceback.format_exc()}",
            )
            return "failed"
        if samples[0].text != samples[1].text:
            saved = turn_samples_save(turn_id=turn_id, variants=request.variants, samples=samples)
            return "ready" if saved else "skipped"
        turn_sampling_reseed(turn_id=turn_id)
    turn_sampling_fail(turn_id=turn_id, reason="the two responses came out identical every time; retry or rephrase")
    return "failed"


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def turns_requeue_stuck_task() -> dict:
    """Beat: re-queue turns stuck in `sampling` (a killed worker's, or queued while Redis was down)."""
    return turns_requeue_stuck()


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=5,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=5,
)
def job_run(self, job_id: int) -> str:
    """A dashboard job (training, policy refresh, RM accuracy). Idempotent: a finished job is left alone."""
    return job_execute(job_id=job_id)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def jobs_requeue_stale_task() -> dict:
    """Beat: re-queue jobs whose worker died (quiet heartbeat) or that the broker never delivered."""
    return jobs_requeue_stale()


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def jobs_nightly_rm_accuracy_task() -> list[int]:
    """Beat, nightly: the current reward models' accuracy on every active batch."""
    return jobs_nightly_rm_accuracy()
