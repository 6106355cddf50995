"""Config dataclasses: defaults < config file < command-line flags; an unknown key is an error."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, TypeVar

C = TypeVar("C")


def config_build(cls: type[C], *, file: str | Path | None = None, **overrides: Any) -> C:
    """Build a config dataclass from its defaults, an optional JSON file, then overrides.

    Overrides whose value is None are ignored, so argparse namespaces can be passed as they are.
    An unknown key, in the file or in the overrides, raises ValueError naming it.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = config_file_read(file) if file is not None else {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} key(s): {', '.join(unknown)}")
    return cls(**values)


def config_file_read(file: str | Path) -> dict[str, Any]:
    """The settings of a JSON config file (one object); ValueError when it is not one."""
    try:
        loaded = json.loads(Path(file).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{file}: {error}") from error
    if not isinstance(loaded, dict):
        raise ValueError(f"{file}: a config file holds one JSON object")
    return loaded


def config_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (paths become strings)."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))
