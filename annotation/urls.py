from django.urls import path

from annotation.apis.auth import TokenCreateApi
from annotation.apis.batches import (
    BatchActivateApi,
    BatchCloseApi,
    BatchExportApi,
    BatchListCreateApi,
    BatchStatsApi,
)
from annotation.apis.dialogues import (
    ComparisonCreateApi,
    DialogueDetailApi,
    DialogueListCreateApi,
    TurnCreateApi,
    TurnDetailApi,
    TurnRetryApi,
)

api_urlpatterns = [
    path("auth/token/", TokenCreateApi.as_view(), name="token-create"),
    path("dialogues/", DialogueListCreateApi.as_view(), name="dialogue-list"),
    path("dialogues/<int:dialogue_id>/", DialogueDetailApi.as_view(), name="dialogue-detail"),
    path("dialogues/<int:dialogue_id>/turns/", TurnCreateApi.as_view(), name="turn-create"),
    path("turns/<int:turn_id>/", TurnDetailApi.as_view(), name="turn-detail"),
    path("turns/<int:turn_id>/retry/", TurnRetryApi.as_view(), name="turn-retry"),
    path("turns/<int:turn_id>/comparison/", ComparisonCreateApi.as_view(), name="comparison-create"),
    path("batches/", BatchListCreateApi.as_view(), name="batch-list"),
    path("batches/<int:batch_id>/activate/", BatchActivateApi.as_view(), name="batch-activate"),
    path("batches/<int:batch_id>/close/", BatchCloseApi.as_view(), name="batch-close"),
    path("batches/<int:batch_id>/stats/", BatchStatsApi.as_view(), name="batch-stats"),
    path("batches/<int:batch_id>/export/", BatchExportApi.as_view(), name="batch-export"),
]
