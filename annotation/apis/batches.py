import json

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.apis.fields import StrictCharField, StrictChoiceField, StrictFloatField, StrictIntegerField
from annotation.apis.permissions import IsAdmin
from annotation.apis.schema import conflict
from annotation.models import Batch, ModelVersion, Track
from annotation.selectors.exports import preference_export_rows
from annotation.selectors.stats import batch_stats
from annotation.services.batches import (
    MAX_NEW_TOKENS_MAX,
    NAME_MAX_CHARS,
    POLICY_VERSIONS_MAX,
    SYSTEM_PROMPT_MAX_CHARS,
    TARGET_COMPARISONS_MAX,
    TEMPERATURE_MAX,
    batch_activate,
    batch_close,
    batch_create,
)

MODEL_NAME_MAX_CHARS = ModelVersion._meta.get_field("name").max_length


class BatchOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    track = serializers.CharField()
    status = serializers.CharField()
    policy_versions = serializers.SerializerMethodField()
    temperature_min = serializers.FloatField()
    temperature_max = serializers.FloatField()
    top_p = serializers.FloatField()
    max_new_tokens = serializers.IntegerField()
    target_comparisons = serializers.IntegerField()
    overlap_fraction = serializers.FloatField()
    system_prompt = serializers.CharField()
    export_policy = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_policy_versions(self, batch) -> list[str]:
        return sorted(v.name for v in batch.policy_versions.all())


class BatchListCreateApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema_serializer(component_name="BatchCreateInput")
    class InputSerializer(serializers.Serializer):
        name = StrictCharField(max_length=NAME_MAX_CHARS)
        track = StrictChoiceField(choices=Track.values)
        policy_versions = serializers.ListField(
            child=StrictCharField(max_length=MODEL_NAME_MAX_CHARS), allow_empty=False, max_length=POLICY_VERSIONS_MAX
        )
        temperature_min = StrictFloatField(min_value=0, max_value=TEMPERATURE_MAX)
        temperature_max = StrictFloatField(min_value=0, max_value=TEMPERATURE_MAX)
        target_comparisons = StrictIntegerField(min_value=1, max_value=TARGET_COMPARISONS_MAX)
        overlap_fraction = StrictFloatField(min_value=0, max_value=1, default=0.0)
        system_prompt = StrictCharField(
            allow_blank=True, required=False, default="", max_length=SYSTEM_PROMPT_MAX_CHARS
        )
        top_p = StrictFloatField(required=False, allow_null=True, default=None, min_value=0, max_value=1)
        max_new_tokens = StrictIntegerField(
            required=False, allow_null=True, default=None, min_value=1, max_value=MAX_NEW_TOKENS_MAX
        )
        export_policy = StrictChoiceField(choices=Batch.ExportPolicy.values, default=Batch.ExportPolicy.ALL)

    @extend_schema(responses=BatchOutputSerializer(many=True))
    def get(self, request):
        batches = Batch.objects.prefetch_related("policy_versions")
        return Response(BatchOutputSerializer(batches, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: BatchOutputSerializer})
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        batch = batch_create(created_by=request.user, **serializer.validated_data)
        return Response(BatchOutputSerializer(batch).data, status=status.HTTP_201_CREATED)


class BatchActivateApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        request=None,
        responses={
            200: BatchOutputSerializer,
            **conflict("The batch is closed, or another batch is active in its track."),
        },
    )
    def post(self, request, batch_id: int):
        batch = batch_activate(batch=get_object_or_404(Batch, pk=batch_id))
        return Response(BatchOutputSerializer(batch).data)


class BatchCloseApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(request=None, responses=BatchOutputSerializer)
    def post(self, request, batch_id: int):
        batch = batch_close(batch=get_object_or_404(Batch, pk=batch_id))
        return Response(BatchOutputSerializer(batch).data)


class BatchStatsApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, batch_id: int):
        return Response(batch_stats(batch=get_object_or_404(Batch, pk=batch_id)))


class BatchExportApi(APIView):
    """The batch's comparisons as streamed JSONL in the export format (`?format=trl`)."""

    permission_classes = [IsAdmin]

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["trl"], default="trl")],
        responses={(200, "application/jsonl"): OpenApiTypes.STR},
    )
    def get(self, request, batch_id: int):
        batch = get_object_or_404(Batch, pk=batch_id)
        export_format = request.query_params.get("format", "trl")
        if export_format != "trl":
            raise ValidationError({"format": ['the only export format is "trl"']})
        rows = preference_export_rows(batches=[batch.name])
        response = StreamingHttpResponse(
            (json.dumps(row, ensure_ascii=False) + "\n" for row in rows), content_type="application/jsonl"
        )
        response["Content-Disposition"] = f'attachment; filename="{batch.name}.jsonl"'
        return response
