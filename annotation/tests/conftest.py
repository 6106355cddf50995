"""Fixtures for the annotation app's tests (builders of rows are in annotation.tests.factories)."""

import pytest
from django.test import Client

from annotation.tests.factories import AdminFactory


@pytest.fixture
def staff() -> Client:
    """A browser client logged in as a platform admin, for the staff dashboard pages."""
    client = Client()
    client.force_login(AdminFactory())
    return client
