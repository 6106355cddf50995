from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

import pytest

from reward_training.config import config_argparse, config_build, config_field
from reward_training.policy.ppo import PPOConfig
from reward_training.policy.ppo.train import parser_build as ppo_parser_build
from reward_training.policy.rejection_sampling_config import RejectionSamplingConfig
from reward_training.policy.sft_config import SFTConfig
from reward_training.reward.reward_config import RewardConfig
from reward_training.reward.train import parser_build as reward_parser_build


@dataclass
class Example:
    count: int | None = config_field(None, "a count")
    rate: float = config_field(0.5, "a rate")
    name: str = config_field("x", "a name")
    switch: bool = config_field(True, "a switch")
    grid: tuple[float, ...] = config_field((), "set in a file")
    nested: SFTConfig = config_field(help="set in a file", default_factory=lambda: SFTConfig(epochs=1.0))


def example_parser() -> argparse.ArgumentParser:
    return config_argparse(argparse.ArgumentParser(), Example)


def test_config_field_carries_its_help_and_default_or_factory():
    by_name = {f.name: f for f in dataclasses.fields(Example)}
    assert by_name["rate"].default == 0.5 and by_name["rate"].metadata["help"] == "a rate"
    assert Example().nested.epochs == 1.0 and Example().nested is not Example().nested


def test_flags_take_the_fields_types_and_default_to_none():
    args = example_parser().parse_args(["--count", "3", "--rate", "0.25", "--name", "y"])
    assert (args.count, args.rate, args.name, args.switch) == (3, 0.25, "y", None)
    assert type(args.count) is int  # int | None parses as int
    assert vars(example_parser().parse_args([])) == {"count": None, "rate": None, "name": None, "switch": None}


def test_a_bool_field_takes_the_flag_and_its_negation():
    assert example_parser().parse_args(["--switch"]).switch is True
    assert example_parser().parse_args(["--no-switch"]).switch is False


@pytest.mark.parametrize(
    "argv", [["--unknown", "1"], ["--count", "three"], ["--grid", "1.0"], ["--nested", "{}"], ["--switch", "yes"]]
)
def test_unknown_flags_bad_values_and_fields_without_a_flag_fail(argv, capsys):
    with pytest.raises(SystemExit):
        example_parser().parse_args(argv)


def test_unset_flags_keep_the_files_values(tmp_path):
    file = tmp_path / "example.json"
    file.write_text('{"count": 7, "switch": false}')
    args = example_parser().parse_args(["--rate", "0.75"])
    config = config_build(Example, file=file, **vars(args))
    assert (config.count, config.rate, config.name, config.switch) == (7, 0.75, "x", False)


@pytest.mark.parametrize("cls", [PPOConfig, RewardConfig, SFTConfig, RejectionSamplingConfig])
def test_every_config_field_has_help(cls):
    assert [f.name for f in dataclasses.fields(cls) if not f.metadata.get("help")] == []


@pytest.mark.parametrize("cls, parser_build", [(PPOConfig, ppo_parser_build), (RewardConfig, reward_parser_build)])
def test_the_clis_help_shows_every_fields_flag_and_help(cls, parser_build):
    text = "".join(parser_build().format_help().split())  # help lines wrap: compare without whitespace
    for field in dataclasses.fields(cls):
        flag = "--" + field.name.replace("_", "-")
        assert flag in text, flag
        assert "".join(field.metadata["help"].split()) in text, field.name
