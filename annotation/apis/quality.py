"""REST API of quality control (issue 6): overlap leases, overlap/gold items, review, trust, annotator figures."""

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.apis.dialogues import TurnOutputSerializer
from annotation.apis.fields import StrictBooleanField, StrictCharField, StrictChoiceField, StrictIntegerField
from annotation.apis.permissions import IsAdmin, IsAnnotator
from annotation.apis.schema import conflict
from annotation.errors import Conflict
from annotation.models import Batch, Comparison, OverlapItem, Sample, Track
from annotation.selectors.dialogues import turn_get
from annotation.selectors.review import review_queue
from annotation.selectors.stats import annotator_stats
from annotation.services.dialogues import PROMPT_MAX_CHARS
from annotation.services.quality import (
    OVERLAP_UPLOAD_MAX,
    REVIEW_MAX_COMPARISONS,
    annotator_trust_set,
    comparisons_review,
    overlap_due,
    overlap_item_gold_set,
    overlap_items_upload,
    overlap_lease_next,
)


class OverlapTurnOutputSerializer(TurnOutputSerializer):
    dialogue = serializers.IntegerField(source="dialogue_id")


class OverlapNextApi(APIView):
    """Lease the next overlap item: 201 with a new turn of the caller's (same prompt and pair), 204 if none is left."""

    permission_classes = [IsAnnotator]

    @extend_schema_serializer(component_name="OverlapNextInput")
    class InputSerializer(serializers.Serializer):
        track = StrictChoiceField(choices=Track.values)

    @extend_schema(
        request=InputSerializer,
        responses={201: OverlapTurnOutputSerializer, 204: None, **conflict("The track has no active batch.")},
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        turn = overlap_lease_next(annotator=request.user, **serializer.validated_data)
        if turn is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        turn = turn_get(annotator=request.user, turn_id=turn.pk)
        return Response(OverlapTurnOutputSerializer(turn).data, status=status.HTTP_201_CREATED)


class OverlapDueApi(APIView):
    """Whether the caller's next turn should be an overlap item (the batch's overlap fraction)."""

    permission_classes = [IsAnnotator]

    @extend_schema(
        parameters=[OpenApiParameter("track", str, enum=Track.values, required=True)],
        responses={200: OpenApiTypes.OBJECT, **conflict("The track has no active batch.")},
    )
    def get(self, request):
        track = request.query_params.get("track")
        if track not in Track.values:
            raise ValidationError({"track": [f"must be one of {', '.join(Track.values)}"]})
        batch = Batch.objects.filter(track=track, status=Batch.Status.ACTIVE).first()
        if batch is None:
            raise Conflict(f"the {track} track has no active batch")
        return Response(
            {
                "due": overlap_due(annotator=request.user, batch=batch),
                "batch": batch.name,
                "overlap_fraction": batch.overlap_fraction,
            }
        )


class OverlapItemOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    batch = serializers.IntegerField(source="batch_id")
    prompt = serializers.CharField()
    status = serializers.CharField(source="source_turn.status")
    gold_label = serializers.CharField(allow_null=True)
    responses = serializers.SerializerMethodField()

    def get_responses(self, item) -> dict:
        return {s.label: s.text for s in item.source_turn.samples.all()}


class OverlapItemListCreateApi(APIView):
    """An admin's overlap (and gold) items of a batch: list them, or upload prompts (one sample pair per prompt)."""

    permission_classes = [IsAdmin]

    @extend_schema_serializer(component_name="OverlapItemsUploadInput")
    class InputSerializer(serializers.Serializer):
        prompts = serializers.ListField(
            child=StrictCharField(max_length=PROMPT_MAX_CHARS), allow_empty=False, max_length=OVERLAP_UPLOAD_MAX
        )

    @extend_schema(responses=OverlapItemOutputSerializer(many=True))
    def get(self, request, batch_id: int):
        batch = get_object_or_404(Batch, pk=batch_id)
        items = (
            OverlapItem.objects.filter(batch=batch)
            .select_related("source_turn")
            .prefetch_related("source_turn__samples")
        )
        return Response(OverlapItemOutputSerializer(items, many=True).data)

    @extend_schema(
        request=InputSerializer,
        responses={201: OverlapItemOutputSerializer(many=True), **conflict("The batch is closed.")},
    )
    def post(self, request, batch_id: int):
        batch = get_object_or_404(Batch, pk=batch_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        items = overlap_items_upload(batch=batch, created_by=request.user, **serializer.validated_data)
        return Response(OverlapItemOutputSerializer(items, many=True).data, status=status.HTTP_201_CREATED)


class OverlapItemGoldApi(APIView):
    """Make an overlap item gold: `gold_label` is the better sample as labelled on the item (null: not gold)."""

    permission_classes = [IsAdmin]

    @extend_schema_serializer(component_name="OverlapItemGoldInput")
    class InputSerializer(serializers.Serializer):
        gold_label = StrictChoiceField(choices=Sample.Label.values, allow_null=True)

    @extend_schema(
        request=InputSerializer,
        responses={200: OverlapItemOutputSerializer, **conflict("The item's pair is not sampled yet.")},
    )
    def post(self, request, item_id: int):
        item = get_object_or_404(OverlapItem.objects.select_related("source_turn"), pk=item_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        item = overlap_item_gold_set(item=item, label=serializer.validated_data["gold_label"])
        return Response(OverlapItemOutputSerializer(item).data)


class ReviewQueueApi(APIView):
    """The batch's comparisons with a review status (default pending), flagged first."""

    permission_classes = [IsAdmin]

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=Comparison.Review.values)], responses=OpenApiTypes.OBJECT
    )
    def get(self, request, batch_id: int):
        batch = get_object_or_404(Batch, pk=batch_id)
        wanted = request.query_params.get("status", Comparison.Review.PENDING)
        if wanted not in Comparison.Review.values:
            raise ValidationError({"status": [f"must be one of {', '.join(Comparison.Review.values)}"]})
        return Response(review_queue(batch=batch, status=wanted))


class ComparisonReviewApi(APIView):
    """Approve, reject or reset comparisons: `{"comparisons": [ids], "status": "approved"|"rejected"|"pending"}`."""

    permission_classes = [IsAdmin]

    @extend_schema_serializer(component_name="ComparisonReviewInput")
    class InputSerializer(serializers.Serializer):
        comparisons = serializers.ListField(
            child=StrictIntegerField(min_value=1, max_value=2**63 - 1),
            allow_empty=False,
            max_length=REVIEW_MAX_COMPARISONS,
        )
        status = StrictChoiceField(choices=Comparison.Review.values)

    @extend_schema(request=InputSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return Response({"updated": comparisons_review(comparison_ids=data["comparisons"], status=data["status"])})


class AnnotatorTrustApi(APIView):
    """Mark an annotator trusted or not (`approved_or_trusted` exports)."""

    permission_classes = [IsAdmin]

    @extend_schema_serializer(component_name="AnnotatorTrustInput")
    class InputSerializer(serializers.Serializer):
        trusted = StrictBooleanField()

    @extend_schema(request=InputSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request, user_id: int):
        user = get_object_or_404(get_user_model(), pk=user_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        profile = annotator_trust_set(user=user, **serializer.validated_data)
        return Response({"id": user.pk, "username": user.username, "trusted": profile.trusted})


class AnnotatorStatsApi(APIView):
    """One annotator's figures: volume, speed, agreement, gold accuracy, position bias, drift."""

    permission_classes = [IsAdmin]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, user_id: int):
        return Response(annotator_stats(user=get_object_or_404(get_user_model(), pk=user_id)))
