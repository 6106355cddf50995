"""Encoding a turn's prompt: system prompt + history (with the chosen replies) + the new user message.

The history is truncated from the left, whole turns at a time, until the prompt leaves room for
`max_new_tokens` in the model's context. The new user message (and the system prompt) are never
cut: if they alone do not fit, PromptTooLong is raised.
"""

from __future__ import annotations

from typing import Any

from reward_training.data.chat import Message, messages_check, render_chat


class PromptTooLong(ValueError):
    """The system prompt and the new user message alone leave no room for the reply."""


def prompt_tokens(tokenizer: Any, messages: list[Message]) -> list[int]:
    """Token ids of `messages` rendered with a generation prompt (chat template, else Llama 2)."""
    text = render_chat(messages, tokenizer, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def history_turns(messages: list[Message]) -> tuple[list[Message], list[list[Message]], Message]:
    """Split messages into (system messages, history turns, the new user message).

    A history turn is a user message followed by the assistant replies up to the next user
    message (a leading assistant message forms a turn of its own).
    """
    if not messages or messages[-1]["role"] != "user":
        raise ValueError("the messages must end with the new user message")
    system = [m for m in messages[:1] if m["role"] == "system"]
    body = messages[len(system) : -1]
    turns: list[list[Message]] = []
    for message in body:
        if message["role"] == "system":
            raise ValueError("a system message may only come first")
        if message["role"] == "user" or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    return system, turns, messages[-1]


def prompt_encode(loaded: Any, messages: list[Message], max_new_tokens: int) -> list[int]:
    """Token ids of the prompt for `messages`, its oldest turns dropped until it fits.

    `loaded` is a LoadedModel (anything with `tokenizer` and `max_length`). The budget is
    `loaded.max_length - max_new_tokens` tokens. Raises PromptTooLong when the system prompt and
    the new user message alone exceed it.
    """
    messages = messages_check(messages)
    budget = loaded.max_length - max_new_tokens
    system, turns, new = history_turns(messages)
    # Drop whole turns from the left; each drop re-renders, so templates that number turns stay right.
    for start in range(len(turns) + 1):
        kept = system + [m for turn in turns[start:] for m in turn] + [new]
        ids = prompt_tokens(loaded.tokenizer, kept)
        if len(ids) <= budget:
            return ids
    raise PromptTooLong(
        f"the prompt needs {len(ids)} tokens but the model's context of {loaded.max_length} "
        f"leaves {max(budget, 0)} after {max_new_tokens} new tokens"
    )
