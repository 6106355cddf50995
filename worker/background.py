"""Embedded mode (no broker, CELERY_TASK_ALWAYS_EAGER): tasks run on a daemon thread of the web process.

The request that queues a task returns at once, and the task runs as a solo Celery worker would run
it: one at a time, in the order queued, through the task's own `apply` (so its retries and its
idempotency checks are those of a real worker). Each task's database connections are closed when it
ends, since the thread is not a request and Django's request cycle never closes them. A task still
queued or running when the process exits is lost, as an inline eager run cut short was: there is
no beat in embedded mode to re-queue its turn.
"""

import logging
import queue
import threading

from django.db import connections

logger = logging.getLogger(__name__)

_tasks: queue.Queue = queue.Queue()
_thread: threading.Thread | None = None
_lock = threading.Lock()


def background_submit(task, *args) -> None:
    """Run `task` with the JSON-able `args` on the background thread, after whatever is already queued."""
    global _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_tasks_run, name="embedded-worker", daemon=True)
            _thread.start()
        _tasks.put((task, list(args)))


def _tasks_run() -> None:
    while True:
        task, args = _tasks.get()
        try:
            result = task.apply(args=args)
            if result.failed():
                logger.error("background task %s%s failed: %r", task.name, tuple(args), result.result)
        except Exception:  # keep the thread alive for the next task
            logger.exception("background task %s%s failed", task.name, tuple(args))
        finally:
            connections.close_all()
            _tasks.task_done()
