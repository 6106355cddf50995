"""Serializer fields that refuse a JSON value of the wrong type instead of coercing it.

DRF's own fields turn `{"prompt": 123}` into "123", `"yes"` into True and `"5"` or `5.0` into 5.
The API's input serializers use these instead, so a client's mistake is a 400 that names the field.
"""

import math

from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A JSON string, and nothing else."""

    default_error_messages = {"invalid": "must be a string"}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictChoiceField(serializers.ChoiceField):
    """One of the choices, given as a JSON string (no 1 for "1", no true for "True")."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false; "yes", 1 and "true" are refused."""

    default_error_messages = {"invalid": "must be true or false"}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON number with no fractional part (3 or 3.0), never a string or a boolean.

    Bounded by default to what a PostgreSQL integer column holds, so an out-of-range value is a
    field message rather than a database error."""

    default_error_messages = {"invalid": "must be an integer"}
    POSTGRES_INTEGER_MAX = 2**31 - 1

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", -self.POSTGRES_INTEGER_MAX - 1)
        kwargs.setdefault("max_value", self.POSTGRES_INTEGER_MAX)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("invalid")
        if isinstance(data, float) and not data.is_integer():
            self.fail("invalid")
        return int(data)


class StrictFloatField(serializers.FloatField):
    """A finite JSON number, never a string or a boolean."""

    default_error_messages = {"invalid": "must be a number"}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("invalid")
        try:
            value = float(data)
        except OverflowError:  # an integer literal beyond any float
            self.fail("invalid")
        if not math.isfinite(value):
            self.fail("invalid")
        return value
