"""The settings Django runs with (DJANGO_SETTINGS_MODULE=webapp.settings.main), one module per concern."""

from webapp.settings.base import *  # noqa: F401,F403

# isort: split
# base first: the concern modules come after it and may build on or override its names.
from webapp.settings.api import *  # noqa: F401,F403
from webapp.settings.celery import *  # noqa: F401,F403
from webapp.settings.platform import *  # noqa: F401,F403
from webapp.settings.security import *  # noqa: F401,F403
