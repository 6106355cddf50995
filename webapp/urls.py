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
