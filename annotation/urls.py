from django.urls import path

from annotation.apis.auth import TokenApi
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
from annotation.apis.guidelines import GuidelineDetailApi
from annotation.apis.quality import (
    AnnotatorStatsApi,
    AnnotatorTrustApi,
    ComparisonReviewApi,
    OverlapDueApi,
    OverlapItemGoldApi,
    OverlapItemListCreateApi,
    OverlapNextApi,
    ReviewQueueApi,
)
from annotation.apis.reports import TurnReportCreateApi

api_urlpatterns = [
    path("auth/token/", TokenApi.as_view(), name="token"),
    path("dialogues/", DialogueListCreateApi.as_view(), name="dialogue-list"),
    path("dialogues/<int:dialogue_id>/", DialogueDetailApi.as_view(), name="dialogue-detail"),
    path("dialogues/<int:dialogue_id>/turns/", TurnCreateApi.as_view(), name="turn-create"),
    path("turns/<int:turn_id>/", TurnDetailApi.as_view(), name="turn-detail"),
    path("turns/<int:turn_id>/retry/", TurnRetryApi.as_view(), name="turn-retry"),
    path("turns/<int:turn_id>/comparison/", ComparisonCreateApi.as_view(), name="comparison-create"),
    path("turns/<int:turn_id>/report/", TurnReportCreateApi.as_view(), name="turn-report"),
    path("guidelines/<str:track>/", GuidelineDetailApi.as_view(), name="guideline-detail"),
    path("batches/", BatchListCreateApi.as_view(), name="batch-list"),
    path("batches/<int:batch_id>/activate/", BatchActivateApi.as_view(), name="batch-activate"),
    path("batches/<int:batch_id>/close/", BatchCloseApi.as_view(), name="batch-close"),
    path("batches/<int:batch_id>/stats/", BatchStatsApi.as_view(), name="batch-stats"),
    path("batches/<int:batch_id>/export/", BatchExportApi.as_view(), name="batch-export"),
    # quality control (issue 6)
    path("overlap/next/", OverlapNextApi.as_view(), name="overlap-next"),
    path("overlap/due/", OverlapDueApi.as_view(), name="overlap-due"),
    path("batches/<int:batch_id>/overlap-items/", OverlapItemListCreateApi.as_view(), name="overlap-items"),
    path("overlap-items/<int:item_id>/gold/", OverlapItemGoldApi.as_view(), name="overlap-item-gold"),
    path("batches/<int:batch_id>/review/", ReviewQueueApi.as_view(), name="review-queue"),
    path("comparisons/review/", ComparisonReviewApi.as_view(), name="comparison-review"),
    path("annotators/<int:user_id>/trust/", AnnotatorTrustApi.as_view(), name="annotator-trust"),
    path("annotators/<int:user_id>/stats/", AnnotatorStatsApi.as_view(), name="annotator-stats"),
]
