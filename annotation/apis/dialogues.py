from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.apis.fields import StrictBooleanField, StrictCharField, StrictChoiceField, StrictIntegerField
from annotation.apis.permissions import IsAnnotator
from annotation.apis.schema import conflict
from annotation.models import Sample, Strength, Track, Turn
from annotation.selectors.dialogues import dialogue_get, dialogue_list, turn_get
from annotation.services.comparisons import TIME_SPENT_MAX_MS, comparison_create
from annotation.services.dialogues import PROMPT_MAX_CHARS, dialogue_create, turn_create, turn_retry
from annotation.services.sampling import sampling_embedded_ensure


class ResponseSerializer(serializers.Serializer):
    label = serializers.CharField()
    text = serializers.CharField()
    completion_tokens = serializers.IntegerField()


class PartialResponseSerializer(serializers.Serializer):
    label = serializers.CharField()
    text = serializers.CharField(help_text="The text sampled so far; its last characters may still change.")


class TurnOutputSerializer(serializers.Serializer):
    """A turn as the annotator sees it: A and B, never which model wrote which."""

    id = serializers.IntegerField()
    index = serializers.IntegerField()
    status = serializers.CharField()
    prompt = serializers.CharField()
    responses = serializers.SerializerMethodField(
        help_text="The two final responses, once the turn is `ready` or `annotated`; empty before."
    )
    partial = serializers.SerializerMethodField(
        help_text="While the turn is `sampling`: the texts of A and B so far, growing as the worker decodes "
        "(a label appears with its first token). Empty in every other status."
    )
    chosen = serializers.SerializerMethodField()
    error = serializers.CharField()

    def get_responses(self, turn) -> ResponseSerializer(many=True):
        if turn.status not in ("ready", "annotated"):
            return []
        return [
            {"label": s.label, "text": s.text, "completion_tokens": s.completion_tokens}
            for s in sorted(turn.samples.all(), key=lambda s: s.label)
        ]

    def get_partial(self, turn) -> PartialResponseSerializer(many=True):
        if turn.status != "sampling" or not turn.partial_responses:
            return []
        return [{"label": label, "text": text} for label, text in sorted(turn.partial_responses.items())]

    def get_chosen(self, turn) -> str | None:
        comparison = getattr(turn, "comparison", None)
        return comparison.chosen if comparison is not None else None


class DialogueOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    track = serializers.CharField()
    batch = serializers.CharField(source="batch.name")
    system_prompt = serializers.CharField()
    created_at = serializers.DateTimeField()
    turns = TurnOutputSerializer(many=True)


class DialogueListCreateApi(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema_serializer(component_name="DialogueCreateInput")
    class InputSerializer(serializers.Serializer):
        track = StrictChoiceField(choices=Track.values)

    @extend_schema(responses=DialogueOutputSerializer(many=True))
    def get(self, request):
        dialogues = dialogue_list(annotator=request.user)
        return Response(DialogueOutputSerializer(dialogues, many=True).data)

    @extend_schema(
        request=InputSerializer, responses={201: DialogueOutputSerializer, **conflict("The track has no active batch.")}
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        dialogue = dialogue_create(annotator=request.user, **serializer.validated_data)
        dialogue = dialogue_get(annotator=request.user, dialogue_id=dialogue.pk)
        return Response(DialogueOutputSerializer(dialogue).data, status=status.HTTP_201_CREATED)


class DialogueDetailApi(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema(responses=DialogueOutputSerializer)
    def get(self, request, dialogue_id: int):
        return Response(DialogueOutputSerializer(dialogue_get(annotator=request.user, dialogue_id=dialogue_id)).data)


class TurnCreateApi(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema_serializer(component_name="TurnCreateInput")
    class InputSerializer(serializers.Serializer):
        prompt = StrictCharField(trim_whitespace=True, max_length=PROMPT_MAX_CHARS)

    @extend_schema(
        request=InputSerializer,
        responses={
            202: TurnOutputSerializer,
            **conflict("The dialogue's batch is no longer active, or its previous turn has no comparison yet."),
        },
    )
    def post(self, request, dialogue_id: int):
        dialogue = dialogue_get(annotator=request.user, dialogue_id=dialogue_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        turn = turn_create(dialogue=dialogue, **serializer.validated_data)
        turn = turn_get(annotator=request.user, turn_id=turn.pk)
        return Response(TurnOutputSerializer(turn).data, status=status.HTTP_202_ACCEPTED)


class TurnDetailApi(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema(responses=TurnOutputSerializer)
    def get(self, request, turn_id: int):
        turn = turn_get(annotator=request.user, turn_id=turn_id)
        if turn.status == Turn.Status.SAMPLING:
            sampling_embedded_ensure()
        return Response(TurnOutputSerializer(turn).data)


class TurnRetryApi(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema(
        request=None, responses={202: TurnOutputSerializer, **conflict("Only a failed turn can be retried.")}
    )
    def post(self, request, turn_id: int):
        turn = turn_retry(turn=turn_get(annotator=request.user, turn_id=turn_id))
        turn = turn_get(annotator=request.user, turn_id=turn.pk)
        return Response(TurnOutputSerializer(turn).data, status=status.HTTP_202_ACCEPTED)


class ComparisonCreateApi(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema_serializer(component_name="ComparisonCreateInput")
    class InputSerializer(serializers.Serializer):
        chosen = StrictChoiceField(choices=Sample.Label.values)
        strength = StrictChoiceField(choices=Strength.values)
        a_safe = StrictBooleanField(required=False, allow_null=True, default=None)
        b_safe = StrictBooleanField(required=False, allow_null=True, default=None)
        time_spent_ms = StrictIntegerField(min_value=0, max_value=TIME_SPENT_MAX_MS)

    @extend_schema_serializer(component_name="ComparisonOutput")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        turn = serializers.IntegerField(source="turn_id")
        chosen = serializers.CharField()
        strength = serializers.CharField()
        a_safe = serializers.BooleanField(allow_null=True)
        b_safe = serializers.BooleanField(allow_null=True)
        safety_bin = serializers.CharField(allow_null=True)
        unsafe_chosen = serializers.BooleanField()
        time_spent_ms = serializers.IntegerField()
        review_status = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            **conflict("The turn already has a comparison, is not ready yet, or was skipped or reported."),
        },
    )
    def post(self, request, turn_id: int):
        turn = turn_get(annotator=request.user, turn_id=turn_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        comparison = comparison_create(turn=turn, annotator=request.user, **serializer.validated_data)
        return Response(self.OutputSerializer(comparison).data, status=status.HTTP_201_CREATED)
