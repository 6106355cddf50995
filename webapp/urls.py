from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from annotation.apis.health import healthz
from annotation.urls import api_urlpatterns

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/", include(api_urlpatterns)),
    path("dashboard/", include("annotation.dashboard.urls")),
    path("", include("annotation.web_urls")),
]

# A path that matches no URL is a JSON 404 under /api/, as a view's own 404 is.
handler404 = "annotation.views.errors.not_found"
# A database outage is a 503 with Retry-After (JSON under /api/, a plain page elsewhere), not Django's 500 page.
handler500 = "annotation.views.errors.server_error"
