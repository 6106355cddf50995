"""Django REST framework and the OpenAPI schema."""

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so an unauthenticated call gets 401 with a WWW-Authenticate header.
        "annotation.apis.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's JSON parser, refusing bodies nested deeper than 32 levels (400) instead of recursing into a 500.
    "DEFAULT_PARSER_CLASSES": ["annotation.apis.parsers.DepthLimitedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "annotation.apis.schema.ApiAutoSchema",  # with the error answers of each operation
    "EXCEPTION_HANDLER": "annotation.apis.errors.api_exception_handler",
    # The export takes ?format=trl as its own parameter, not as a renderer override.
    "URL_FORMAT_OVERRIDE": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "RLHF preference platform API",
    "DESCRIPTION": (
        "Human preference collection (Llama 2 protocol): dialogues, paired samples, comparisons, batches, exports."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "ENUM_NAME_OVERRIDES": {"SampleLabelEnum": ["a", "b"]},
}
