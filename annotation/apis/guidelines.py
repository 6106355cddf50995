from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.apis.permissions import IsAnnotator
from annotation.models import Batch, Track
from annotation.selectors.guidelines import guideline_sections


class GuidelineSectionSerializer(serializers.Serializer):
    title = serializers.CharField()
    markdown = serializers.CharField()


class GuidelineDetailApi(APIView):
    """The guidelines of a track (markdown): the standing text, then the active batch's addendum."""

    permission_classes = [IsAnnotator]

    @extend_schema(responses=GuidelineSectionSerializer(many=True))
    def get(self, request, track: str):
        if track not in Track.values:
            raise Http404
        batch = Batch.objects.filter(track=track, status=Batch.Status.ACTIVE).first()
        sections = guideline_sections(track=track, batch=batch)
        return Response(GuidelineSectionSerializer(sections, many=True).data)
