"""The stuck-turn sweep asks the real Redis broker what it holds before it re-queues anything."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import Turn
from annotation.services.sampling import turn_sampling_enqueue, turns_requeue_stuck
from annotation.tests.factories import TurnFactory
from webapp.celery import app
from worker.broker import sampling_messages

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue(settings):
    """A sampling queue of this test's own on the test Redis, emptied afterwards."""
    settings.SAMPLING_QUEUE = f"sweep-test-{uuid.uuid4().hex[:8]}"
    yield settings.SAMPLING_QUEUE
    with app.connection_for_write() as connection:
        connection.default_channel.client.delete(settings.SAMPLING_QUEUE)


def _old_turn(seconds: float, **fields) -> Turn:
    return TurnFactory(sampling_attempts=1, sampling_queued_at=timezone.now() - timedelta(seconds=seconds), **fields)


def test_a_turn_waiting_behind_a_backlog_is_neither_requeued_nor_charged_an_attempt(queue, settings):
    settings.SAMPLING_MAX_ATTEMPTS = 2
    turn = _old_turn(3600)
    turn_sampling_enqueue(turn_id=turn.pk)  # its message now waits in the queue, as behind a long backlog
    assert turn.pk in sampling_messages().waiting
    for _ in range(3):
        assert turns_requeue_stuck(older_than_s=60) == {"requeued": [], "failed": [], "queued": 1}
    turn.refresh_from_db()
    assert turn.status == "sampling" and turn.sampling_attempts == 1


def test_a_turn_whose_message_was_lost_is_requeued_at_once(queue, django_capture_on_commit_callbacks):
    lost = _old_turn(20)  # queued while the broker was down: no message anywhere
    young = _old_turn(1)  # its publish may still be on the way
    with django_capture_on_commit_callbacks(execute=True):
        result = turns_requeue_stuck(older_than_s=330)
    assert result == {"requeued": [lost.pk], "failed": [], "queued": 0}
    assert lost.pk in sampling_messages().waiting and young.pk not in sampling_messages().waiting
    lost.refresh_from_db()
    assert lost.sampling_attempts == 2


def test_a_message_a_worker_holds_is_left_alone_until_that_worker_must_be_dead(queue):
    turn = _old_turn(60)
    turn_sampling_enqueue(turn_id=turn.pk)
    with app.connection_for_read() as connection:
        taken = connection.SimpleQueue(queue, no_ack=False).get(timeout=5)  # held, not acknowledged
        assert taken.headers["id"] == f"sample-turn-{turn.pk}"
        assert turn.pk in sampling_messages().held and turn.pk not in sampling_messages().waiting
        assert turns_requeue_stuck(older_than_s=330)["requeued"] == []
        # past the hard time limit no live worker still has it: its worker died
        assert turns_requeue_stuck(older_than_s=30)["requeued"] == [turn.pk]
        taken.ack()


def test_with_the_broker_unreachable_the_sweep_changes_nothing(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    turn = _old_turn(3600)
    assert turns_requeue_stuck(older_than_s=60)["broker"] == "unreachable"
    turn.refresh_from_db()
    assert turn.sampling_attempts == 1 and turn.status == "sampling"
