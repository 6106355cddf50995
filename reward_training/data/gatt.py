"""Ghost Attention data (Llama 2, 3.3, "System Message for Multi-Turn Consistency").

1. Draw a synthetic instruction for each dialogue from a versioned instruction file (attribute kinds
   such as language, word limit, persona, hobby, combined at random; a full and a short form), which
   reward_training.data.gatt_instructions reads and draws from.
2. Append the instruction to every user message and sample each assistant reply from the policy,
   turn by turn, so later turns see replies that follow it.
3. Write training rows with the instruction only at the start: in the system message where the chat
   template has one, else in the first user message (the short form half the time, as the paper
   does). Each row ends with one sampled reply and trains on it alone (SFT loss_on="last"): the loss
   on every token of the earlier turns is zero.

A row of the output JSONL: {"messages": [...], "loss_on": "last", "instruction": {...}, "turns": t,
"placement": "system" | "first_user"}; gatt_rows_read turns the file back into SFT examples.

    instructions = instructions_load("assets/gatt/instructions-v1.json")  # gatt_instructions
    rows = gatt_rows_build(dialogues, instructions, policy_replier(loaded), placement="system")
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reward_training.data.chat import Message, messages_check, render_chat
from reward_training.data.gatt_instructions import (
    Instruction,
    InstructionSet,
    instruction_draw,
    instructions_verifiable,
)
from reward_training.io import jsonl_write_atomic

MAX_TURNS = 8  # the paper's Fig. 10 runs to 20 turns; the platform's dialogues average 3.9

# Replies for a batch of prompts (each a message list ending with a user turn): (text, finished with EOS).
Replier = Callable[[list[list[Message]]], list[tuple[str, bool]]]


@dataclass(frozen=True)
class Dialogue:
    """The user side of a dialogue: the replies are resampled, so only the user turns are kept."""

    users: list[str]
    system: str = ""


def dialogue_from_messages(messages: Any, *, max_turns: int = MAX_TURNS) -> Dialogue:
    """The user turns (at most max_turns) and system message of a message list; ValueError without a user turn."""
    messages = messages_check(messages if isinstance(messages, list) else [])
    system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
    users = [m["content"] for m in messages if m["role"] == "user" and m["content"].strip()]
    if not users:
        raise ValueError("the dialogue has no user turn")
    return Dialogue(users=users[:max_turns], system=system)


def dialogues_read(path: str | Path, *, max_turns: int = MAX_TURNS) -> list[Dialogue]:
    """A JSONL of dialogues: each line a message list, or an object with "messages". ValueError names the line."""
    path = Path(path)
    dialogues = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            dialogues.append(
                dialogue_from_messages(row.get("messages") if isinstance(row, dict) else row, max_turns=max_turns)
            )
        except (ValueError, TypeError) as error:
            raise ValueError(f"{path.name}, line {number}: {error}") from error
    if not dialogues:
        raise ValueError(f"{path} holds no dialogues")
    return dialogues


def system_supported(tokenizer: Any) -> bool:
    """Whether the chat format renders a system message (the Llama 2 fallback does; some templates refuse one)."""
    marker = "GATT-SYSTEM-PROBE"
    try:
        text = render_chat(
            [{"role": "system", "content": marker}, {"role": "user", "content": "hi"}],
            tokenizer,
            add_generation_prompt=True,
        )
    except Exception:  # a Jinja template that raises on a system role
        return False
    return marker in text


def with_instruction(text: str, instruction: str) -> str:
    return f"{text}\n\n{instruction}" if text else instruction


def sampling_messages(dialogue: Dialogue, instruction: str, replies: Sequence[str]) -> list[Message]:
    """The prompt for the next reply: the instruction appended to every user message (paper 3.3, step 2)."""
    messages: list[Message] = [{"role": "system", "content": dialogue.system}] if dialogue.system else []
    for user, reply in zip(dialogue.users, replies):
        messages += [
            {"role": "user", "content": with_instruction(user, instruction)},
            {"role": "assistant", "content": reply},
        ]
    messages.append({"role": "user", "content": with_instruction(dialogue.users[len(replies)], instruction)})
    return messages


def first_turn_messages(
    dialogue: Dialogue, instruction: str, replies: Sequence[str], *, placement: str, upcoming: bool = False
) -> list[Message]:
    """The dialogue with the instruction at its start only: in the system message (placement "system") or
    the first user message ("first_user"). With `upcoming`, it ends with the next user turn (a prompt);
    otherwise with the last of `replies`."""
    if placement not in ("system", "first_user"):
        raise ValueError('placement must be "system" or "first_user"')
    messages: list[Message] = []
    system = dialogue.system
    if placement == "system":
        system = with_instruction(system, instruction)
    if system:
        messages.append({"role": "system", "content": system})
    turns = len(replies) + (1 if upcoming else 0)
    for t in range(turns):
        user = dialogue.users[t]
        if t == 0 and placement == "first_user":
            user = with_instruction(user, instruction)
        messages.append({"role": "user", "content": user})
        if t < len(replies):
            messages.append({"role": "assistant", "content": replies[t]})
    return messages


def replies_turn_by_turn(
    prompts_for: Callable[[int, list[str]], list[Message]],
    dialogues: Sequence[Dialogue],
    replier: Replier,
    *,
    on_turn: Callable[[int], None] | None = None,
) -> list[list[tuple[str, bool]]]:
    """Sample every dialogue's replies in turn order, batching the dialogues that reach each turn.

    prompts_for(i, replies_so_far) is the prompt for dialogue i's next reply. Returns (text, finished) per turn."""
    replies: list[list[tuple[str, bool]]] = [[] for _ in dialogues]
    for turn in range(max((len(d.users) for d in dialogues), default=0)):
        active = [i for i, d in enumerate(dialogues) if len(d.users) > turn]
        samples = replier([prompts_for(i, [text for text, _ in replies[i]]) for i in active])
        for i, sample in zip(active, samples):
            replies[i].append(sample)
        if on_turn is not None:
            on_turn(len(active))
    return replies


def training_rows(
    dialogue: Dialogue,
    instruction: Instruction,
    replies: Sequence[tuple[str, bool]],
    *,
    placement: str,
    short: bool,
    every_turn: bool = True,
    version: str = "",
) -> list[dict[str, Any]]:
    """The training rows of one sampled dialogue: one per turn (or only the whole dialogue), each ending with
    the reply it trains on, the instruction (its short form if `short`) at the start only."""
    stated = instruction.short if short else instruction.full
    texts = [text for text, _ in replies]
    ends = range(1, len(texts) + 1) if every_turn else [len(texts)]
    rows = []
    for end in ends:
        messages = first_turn_messages(dialogue, stated, texts[:end], placement=placement)
        if not replies[end - 1][1]:
            messages[-1] = {**messages[-1], "truncated": True}  # cut off at max_new_tokens: no end-of-turn
        rows.append(
            {
                "messages": messages,
                "loss_on": "last",
                "turns": end,
                "placement": placement,
                "instruction": {**instruction.as_dict(), "stated": stated, "version": version},
            }
        )
    return rows


@dataclass
class GattConfig:
    """Settings of Ghost Attention data building."""

    max_turns: int = MAX_TURNS  # user turns kept per dialogue
    short_share: float = 0.5  # how often the training row states the short form (paper: half the time)
    every_turn: bool = True  # one row per turn (each reply trained once); False: one row per dialogue
    placement: str = "auto"  # "auto": the system message where the chat template has one; "system"; "first_user"
    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 128
    batch_size: int = 8  # dialogues per batched generation call
    seed: int = 0
    device: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.max_turns <= 64:
            raise ValueError("max_turns must lie in 1..64")
        if not 0 <= self.short_share <= 1:
            raise ValueError("short_share must lie in [0, 1]")
        if self.placement not in ("auto", "system", "first_user"):
            raise ValueError('placement must be "auto", "system" or "first_user"')


def policy_replier(loaded: Any, config: GattConfig, *, seed_offset: int = 0) -> Replier:
    """A Replier that samples one reply per prompt from a loaded policy (reward_training.generation)."""
    from reward_training.generation import best_of_k_generate

    calls = [0]

    def replier(prompts: list[list[Message]]) -> list[tuple[str, bool]]:
        calls[0] += 1
        rows = best_of_k_generate(
            loaded,
            prompts,
            k=1,
            temperature=config.temperature,
            top_p=config.top_p,
            max_new_tokens=config.max_new_tokens,
            seed=config.seed + seed_offset + 100_003 * calls[0],
            batch_size=config.batch_size,
        )
        return [(row[0].text.strip(), row[0].finished_with_eos) for row in rows]

    return replier


def placement_pick(config: GattConfig, tokenizer: Any) -> str:
    if config.placement != "auto":
        return config.placement
    return "system" if system_supported(tokenizer) else "first_user"


def gatt_rows_build(
    dialogues: Sequence[Dialogue],
    instructions: InstructionSet,
    replier: Replier,
    *,
    config: GattConfig,
    placement: str,
    on_turn: Callable[[int], None] | None = None,
) -> list[dict]:
    """Draw an instruction per dialogue, sample with it on every user turn, return the training rows."""
    rng = random.Random(config.seed)
    drawn = [instruction_draw(instructions, rng) for _ in dialogues]
    short = [rng.random() < config.short_share for _ in dialogues]
    replies = replies_turn_by_turn(
        lambda i, so_far: sampling_messages(dialogues[i], drawn[i].full, so_far), dialogues, replier, on_turn=on_turn
    )
    rows = []
    for dialogue, instruction, is_short, sampled in zip(dialogues, drawn, short, replies):
        rows += training_rows(
            dialogue,
            instruction,
            sampled,
            placement=placement,
            short=is_short,
            every_turn=config.every_turn,
            version=instructions.version,
        )
    return rows


def gatt_rows_write(rows: Sequence[dict], path: str | Path) -> Path:
    """Write the rows as JSONL atomically (a partial file never takes the name)."""
    path = Path(path)
    jsonl_write_atomic(path, rows)
    return path


def gatt_rows_read(path: str | Path) -> list[list[Message]]:
    """SFT examples from a GAtt JSONL (train them with SFTConfig(loss_on="last")); ValueError names a bad line."""
    path = Path(path)
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            messages = row["messages"]
            messages_check(messages)
            if not messages or messages[-1]["role"] != "assistant":
                raise ValueError("a row must end with an assistant reply")
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path.name}, line {number}: {error}") from error
        examples.append(messages)
    if not examples:
        raise ValueError(f"{path} holds no GAtt rows")
    return examples


@dataclass
class AdherenceRun:
    """Held-out dialogues with verifiable instructions stated in the first turn only, and the replies."""

    instructions: list[Instruction] = field(default_factory=list)
    replies: list[list[str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"instructions": [i.as_dict() for i in self.instructions], "replies": self.replies}


def adherence_sample(
    dialogues: Sequence[Dialogue], instructions: InstructionSet, replier: Replier, *, placement: str, seed: int = 0
) -> AdherenceRun:
    """Replies turn by turn with a verifiable instruction given only at the start (paper Fig. 10's setting).

    The same seed draws the same instructions, so a policy before and after GAtt faces the same test."""
    rng = random.Random(seed)
    verifiable = instructions_verifiable(instructions)
    drawn = [instruction_draw(verifiable, rng) for _ in dialogues]
    replies = replies_turn_by_turn(
        lambda i, so_far: first_turn_messages(dialogues[i], drawn[i].full, so_far, placement=placement, upcoming=True),
        dialogues,
        replier,
    )
    return AdherenceRun(instructions=drawn, replies=[[text for text, _ in row] for row in replies])
