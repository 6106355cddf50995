from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.apis.fields import StrictCharField, StrictChoiceField
from annotation.apis.permissions import IsAnnotator
from annotation.apis.schema import conflict
from annotation.models import TurnReport
from annotation.selectors.dialogues import turn_get
from annotation.services.reports import REPORT_NOTE_MAX_CHARS, turn_report_create


class TurnReportInputSerializer(serializers.Serializer):
    reason = StrictChoiceField(choices=TurnReport.Reason.values)
    note = StrictCharField(required=False, allow_blank=True, default="", max_length=REPORT_NOTE_MAX_CHARS)


class TurnReportOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    turn = serializers.IntegerField(source="turn_id")
    reason = serializers.CharField()
    note = serializers.CharField()
    created_at = serializers.DateTimeField()


class TurnReportCreateApi(APIView):
    """Skip or report a turn (offensive, broken, identical responses) with a reason; admins see it."""

    permission_classes = [IsAnnotator]

    @extend_schema(
        request=TurnReportInputSerializer,
        responses={
            201: TurnReportOutputSerializer,
            **conflict("The turn already has a comparison, or was already skipped or reported."),
        },
    )
    def post(self, request, turn_id: int):
        turn = turn_get(annotator=request.user, turn_id=turn_id)
        serializer = TurnReportInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = turn_report_create(turn=turn, annotator=request.user, **serializer.validated_data)
        return Response(TurnReportOutputSerializer(report).data, status=status.HTTP_201_CREATED)
