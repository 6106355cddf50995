"""Config dataclasses: defaults < config file < command-line flags; an unknown key is an error.

A field is declared with its help, `name: int = config_field(8, "what it is")`; config_argparse adds one
`--name` flag per field to a parser, and config_build merges defaults, a JSON file and the flags given.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

C = TypeVar("C")


def config_field(
    default: Any = dataclasses.MISSING,
    help: str = "",  # noqa: A002 - "help" reads like argparse
    *,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field with its help text (shown by config_argparse's flags); no default: a required field."""
    return dataclasses.field(default=default, default_factory=default_factory, metadata={"help": help})


def config_argparse(parser: argparse.ArgumentParser, cls: type) -> argparse.ArgumentParser:
    """Add one `--field-name` flag per field of the config dataclass `cls` to `parser`; returns the parser.

    The flag's type is the field's (`X | None` parses as X), a bool field takes --name / --no-name, and
    every flag defaults to None, so config_build keeps the file's or the dataclass's value unless the
    flag is given. Tuple and nested-dataclass fields get no flag (a config file sets them). The help is
    the field's metadata["help"].
    """
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        kind = hints[field.name]
        if typing.get_origin(kind) in (typing.Union, types.UnionType):  # int | None: int
            kind = next(t for t in typing.get_args(kind) if t is not type(None))
        if typing.get_origin(kind) is tuple or dataclasses.is_dataclass(kind):
            continue
        flag = "--" + field.name.replace("_", "-")
        options: dict[str, Any] = {"dest": field.name, "default": None, "help": field.metadata.get("help")}
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **options)
        else:
            parser.add_argument(flag, type=kind, **options)
    return parser


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
