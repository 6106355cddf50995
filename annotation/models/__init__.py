"""The data of the Llama 2 preference protocol (Llama 2 paper, section 3.2.1).

Models hold fields and database constraints; the logic lives in services/ and selectors/. Every model and
choice class is imported here, so Django finds the models and `from annotation.models import X` works:
choices.py (tracks, roles, strengths, safety bins, generation backends), users.py (Profile),
model_versions.py (ModelVersion), annotation.py (Batch, Dialogue, Turn, Sample, Comparison), quality.py
(Guideline, TurnReport, OverlapItem, OverlapAssignment), imports.py (ImportedPair), jobs.py (Job).
"""

from annotation.models.annotation import Batch, Comparison, Dialogue, Sample, Turn
from annotation.models.choices import GenerationBackend, Role, SafetyBin, Strength, Track
from annotation.models.imports import ImportedPair
from annotation.models.jobs import Job
from annotation.models.model_versions import ModelVersion
from annotation.models.quality import Guideline, OverlapAssignment, OverlapItem, TurnReport
from annotation.models.users import Profile

__all__ = [
    "Batch",
    "Comparison",
    "Dialogue",
    "GenerationBackend",
    "Guideline",
    "ImportedPair",
    "Job",
    "ModelVersion",
    "OverlapAssignment",
    "OverlapItem",
    "Profile",
    "Role",
    "SafetyBin",
    "Sample",
    "Strength",
    "Track",
    "Turn",
    "TurnReport",
]
