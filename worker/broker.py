"""What the Redis broker holds for sampling: which turns' messages wait in the queue, and which a worker holds.

The stuck-turn sweep asks this before it re-queues a turn, so that a turn still waiting behind a backlog
is left alone (no duplicate delivery, no attempt spent) and only a lost message is sent again.

Sampling messages carry the task id `sample-turn-<turn id>` (see `turn_sampling_enqueue`). The keys are
kombu's Redis transport's: a list per queue (and per priority step) of waiting messages, and the
`unacked` hash of the messages workers have taken and not yet acknowledged (a retry waiting out its
countdown is there too; a killed worker's stays there until the visibility timeout restores it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.conf import settings

TASK_ID_PREFIX = "sample-turn-"
_SOCKET_TIMEOUT_S = 3.0


def sampling_task_id(turn_id: int) -> str:
    return f"{TASK_ID_PREFIX}{turn_id}"


@dataclass(frozen=True)
class SamplingMessages:
    waiting: frozenset[int]  # turns whose message is in the queue, not yet taken by a worker
    held: frozenset[int]  # turns whose message a worker has taken (running, retrying, or its worker died)


def _turn_id(message: dict) -> int | None:
    task_id = (message.get("headers") or {}).get("id") or ""
    if not task_id.startswith(TASK_ID_PREFIX):
        return None
    try:
        return int(task_id[len(TASK_ID_PREFIX) :])
    except ValueError:
        return None


def _turn_ids(raw_messages, unwrap=lambda payload: payload) -> frozenset[int]:
    ids = set()
    for raw in raw_messages:
        try:
            turn_id = _turn_id(unwrap(json.loads(raw)))
        except (ValueError, TypeError, AttributeError, IndexError, KeyError):
            continue  # not a message of ours
        if turn_id is not None:
            ids.add(turn_id)
    return frozenset(ids)


def sampling_messages() -> SamplingMessages | None:
    """The sampling messages in the broker; None where there is no broker to ask (embedded mode, or a
    broker other than Redis). Raises redis's ConnectionError/TimeoutError when Redis cannot be reached."""
    url = settings.CELERY_BROKER_URL
    if settings.CELERY_TASK_ALWAYS_EAGER or not url.startswith(("redis://", "rediss://")):
        return None
    import redis
    from kombu.transport.redis import Channel

    client = redis.Redis.from_url(url, socket_timeout=_SOCKET_TIMEOUT_S, socket_connect_timeout=_SOCKET_TIMEOUT_S)
    try:
        queue = settings.SAMPLING_QUEUE
        keys = [queue] + [f"{queue}{Channel.sep}{step}" for step in Channel.priority_steps if step]
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.lrange(key, 0, -1)
            pipe.hvals(Channel.unacked_key)
            *lists, unacked = pipe.execute()
    finally:
        client.close()
    waiting = frozenset().union(*(_turn_ids(messages) for messages in lists))
    return SamplingMessages(waiting=waiting, held=_turn_ids(unacked, unwrap=lambda entry: entry[0]))
