from dataclasses import dataclass

from django.template.loader import render_to_string

from annotation.models import Batch, Guideline


@dataclass(frozen=True)
class GuidelineSection:
    title: str
    markdown: str


def guideline_sections(*, track: str, batch: Batch | None = None) -> list[GuidelineSection]:
    """What an annotator reads for a track: the track's guidelines (an admin's, else the built-in ones),
    then the batch's addendum when it has one."""
    standing = Guideline.objects.filter(track=track, batch__isnull=True).first()
    body = standing.body if standing else render_to_string(f"annotation/guidelines/{track}.md")
    sections = [GuidelineSection(title=f"{track.capitalize()} guidelines", markdown=body)]
    addendum = Guideline.objects.filter(batch=batch).first() if batch is not None else None
    if addendum is not None and addendum.body.strip():
        sections.append(GuidelineSection(title=f"For batch {batch.name}", markdown=addendum.body))
    return sections
