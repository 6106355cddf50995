"""Embedded mode (no broker, CELERY_TASK_ALWAYS_EAGER): tasks run on a daemon thread of the web process.

The request that queues a task returns at once, and the task runs as a solo Celery worker would run
it: one at a time, in the order queued, through the task's own `apply` (so its retries and its
idempotency checks are those of a real worker). Each task's database connections are closed when it
ends, since the thread is not a request and Django's request cycle never closes them.

The thread is also embedded mode's beat: a task still queued or running when the process exits (a
Ctrl-C, runserver reloading on a code change) is lost with it, so when the thread starts it re-queues
every turn left `sampling` by an earlier process, and while idle it runs the stuck-turn sweep every
SAMPLING_SWEEP_EVERY_S seconds. `background_ensure()` starts it without a task, for a page that polls
a turn which nothing is sampling any more.
"""

import logging
import queue
import threading
import time

import psutil
from django.db import connections

logger = logging.getLogger(__name__)

_tasks: queue.Queue = queue.Queue()
_thread: threading.Thread | None = None
_lock = threading.Lock()
_PROCESS_STARTED = psutil.Process().create_time()  # turns queued before this belong to an earlier process


def background_ensure() -> None:
    """Start the thread (and so its sweep) if it is not running in this process."""
    global _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_tasks_run, name="embedded-worker", daemon=True)
            _thread.start()


def background_submit(task, *args) -> None:
    """Run `task` with the JSON-able `args` on the background thread, after whatever is already queued."""
    background_ensure()
    _tasks.put((task, list(args)))


def _sweep(*, older_than_s: float | None = None) -> None:
    from annotation.services.sampling import turns_requeue_stuck

    try:
        turns_requeue_stuck(older_than_s=older_than_s)
    except Exception:  # no tables yet, a locked database: the next sweep tries again
        logger.exception("the embedded sweep of stuck turns failed")
    finally:
        connections.close_all()


def _tasks_run() -> None:
    from django.conf import settings

    # turns a previous process was sampling when it stopped: nothing else will ever finish them
    _sweep(older_than_s=max(0.0, time.time() - _PROCESS_STARTED))
    while True:
        try:
            task, args = _tasks.get(timeout=settings.SAMPLING_SWEEP_EVERY_S)
        except queue.Empty:
            _sweep()
            continue
        try:
            result = task.apply(args=args)
            if result.failed():
                logger.error("background task %s%s failed: %r", task.name, tuple(args), result.result)
        except Exception:  # keep the thread alive for the next task
            logger.exception("background task %s%s failed", task.name, tuple(args))
        finally:
            connections.close_all()
            _tasks.task_done()
