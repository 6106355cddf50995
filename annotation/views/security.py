from functools import wraps

# Defence in depth behind the sanitiser: no inline script, no foreign origin, no plugin, no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# Staff pages (the dashboard and Django's admin): the same, except that style attributes may set a progress
# bar's width (style-src-attr; no stylesheet or script comes inline).
STAFF_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY + "; style-src-attr 'unsafe-inline'"
STAFF_PATH_PREFIXES = ("/admin/", "/dashboard/")


def content_security_policy(view):
    """Send the app's Content-Security-Policy with a page."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response

    return wrapped


class StaffContentSecurityPolicyMiddleware:
    """Send the staff policy with every dashboard and admin page (the admin's views are Django's own)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(STAFF_PATH_PREFIXES):
            response.headers.setdefault("Content-Security-Policy", STAFF_CONTENT_SECURITY_POLICY)
        return response
