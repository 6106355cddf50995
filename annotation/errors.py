"""Domain errors the services raise. Bad input is django.core.exceptions.ValidationError (400)."""


class Conflict(Exception):
    """The request is valid but the current state forbids it (409): a second comparison, no active batch."""
