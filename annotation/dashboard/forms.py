from django import forms

from annotation.models import Batch, ModelVersion, Track
from annotation.services.quality import OVERLAP_K_MAX


class BatchCreateForm(forms.Form):
    """The fields of POST /api/batches/, plus the overlap settings."""

    name = forms.CharField(max_length=128)
    track = forms.ChoiceField(choices=Track.choices)
    policy_versions = forms.ModelMultipleChoiceField(
        queryset=ModelVersion.objects.filter(kind=ModelVersion.Kind.POLICY), to_field_name="name"
    )
    temperature_min = forms.FloatField(initial=0.7)
    temperature_max = forms.FloatField(initial=1.2)
    target_comparisons = forms.IntegerField(min_value=1, initial=1000)
    overlap_fraction = forms.FloatField(min_value=0, max_value=1, initial=0.05)
    overlap_k = forms.IntegerField(min_value=2, max_value=OVERLAP_K_MAX, initial=3)
    system_prompt = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    top_p = forms.FloatField(required=False)
    max_new_tokens = forms.IntegerField(required=False, min_value=1)
    export_policy = forms.ChoiceField(choices=Batch.ExportPolicy.choices, initial=Batch.ExportPolicy.ALL)


class OverlapUploadForm(forms.Form):
    prompts = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), help_text="One prompt a line.")

    def prompt_list(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["prompts"].splitlines() if line.strip()]
