"""Ghost Attention's synthetic instructions (Llama 2, 3.3): the versioned instruction file (attribute kinds
such as language, word limit, persona, hobby, each option with a full and a short form and, where a
function can verify it, a check), and the drawing of one instruction per dialogue, its attributes combined
at random. reward_training.data.gatt builds the training rows with them."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reward_training.evaluation.adherence import Check, check_validate

DEFAULT_INSTRUCTIONS = Path(__file__).resolve().parents[2] / "assets" / "gatt" / "instructions-v1.json"


@dataclass(frozen=True)
class Option:
    kind: str  # the attribute kind: "language", "persona", ...
    full: str
    short: str
    check: Check | None = None  # how to verify it, where a function can


@dataclass(frozen=True)
class InstructionSet:
    version: str
    attributes: dict[str, list[Option]]
    max_attributes: int = 2


@dataclass(frozen=True)
class Instruction:
    full: str
    short: str
    options: tuple[Option, ...]

    @property
    def checks(self) -> list[Check]:
        return [option.check for option in self.options if option.check is not None]

    def as_dict(self) -> dict[str, Any]:
        return {
            "full": self.full,
            "short": self.short,
            "attributes": [o.kind for o in self.options],
            "checks": self.checks,
        }


def instructions_load(path: str | Path = DEFAULT_INSTRUCTIONS) -> InstructionSet:
    """Read and check an instruction file; ValueError (one line) when it is malformed or empty."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: {error}") from error
    if not isinstance(raw, dict) or not isinstance(raw.get("attributes"), dict):
        raise ValueError(f'{path}: an instruction file is an object with "attributes"')
    attributes: dict[str, list[Option]] = {}
    for kind, options in raw["attributes"].items():
        if not isinstance(options, list):
            raise ValueError(f"{path}: attribute {kind!r} must list its options")
        parsed = []
        for i, option in enumerate(options):
            if not isinstance(option, dict) or not all(str(option.get(f) or "").strip() for f in ("full", "short")):
                raise ValueError(f'{path}: option {i} of {kind!r} needs a non-empty "full" and "short" form')
            try:
                check = check_validate(option["check"]) if option.get("check") is not None else None
            except ValueError as error:
                raise ValueError(f"{path}: option {i} of {kind!r}: {error}") from error
            parsed.append(Option(kind=kind, full=option["full"].strip(), short=option["short"].strip(), check=check))
        if parsed:
            attributes[kind] = parsed
    if not attributes:
        raise ValueError(f"{path} holds no instructions")
    max_attributes = raw.get("max_attributes", 2)
    if not isinstance(max_attributes, int) or max_attributes < 1:
        raise ValueError(f"{path}: max_attributes must be a whole number >= 1")
    return InstructionSet(
        version=str(raw.get("version") or path.stem), attributes=attributes, max_attributes=max_attributes
    )


def instructions_verifiable(instructions: InstructionSet) -> InstructionSet:
    """Only the options that a check can verify (for measuring adherence)."""
    kept = {kind: [o for o in options if o.check] for kind, options in instructions.attributes.items()}
    kept = {kind: options for kind, options in kept.items() if options}
    if not kept:
        raise ValueError("the instruction file has no option with a check to measure adherence by")
    return InstructionSet(instructions.version, kept, instructions.max_attributes)


def instruction_draw(instructions: InstructionSet, rng: random.Random) -> Instruction:
    """1 to max_attributes distinct attribute kinds at random, one option of each (paper 3.3: combined at random)."""
    kinds = sorted(instructions.attributes)
    count = rng.randint(1, min(instructions.max_attributes, len(kinds)))
    options = tuple(rng.choice(instructions.attributes[kind]) for kind in rng.sample(kinds, count))
    return Instruction(
        full=" ".join(o.full for o in options), short=" ".join(o.short for o in options), options=options
    )
