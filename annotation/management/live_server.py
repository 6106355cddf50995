"""A threaded WSGI server for this process's Django app, for commands that drive our own REST API
(run_iteration --simulate without --url). In the embedded mode (no REDIS_URL) sampling then runs in
the request threads; with Redis, the usual Celery workers sample."""

import threading
from contextlib import contextmanager

from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler, get_internal_wsgi_application


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - keep the command's output to its progress bars
        pass


@contextmanager
def live_server():
    """Serve the app on 127.0.0.1 and a free port; yields the base URL."""
    server = ThreadedWSGIServer(("127.0.0.1", 0), _QuietHandler, allow_reuse_address=False)
    server.set_app(get_internal_wsgi_application())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
