"""SFT examples as token ids with a loss mask (Llama 2, 3.1 and 3.3).

An example is a dialogue: a list of messages ending with an assistant reply. A prompt/answer
pair is the dialogue [*prompt, {"role": "assistant", "content": answer}] (see sft_example).
It is rendered with the chat template (Llama 2 [INST] format when the tokenizer has none), one
segment at a time, so each token is known to belong to a prompt or to an assistant turn:

- loss_on="assistant": every assistant turn is trained on, prompts are not (paper 3.1);
- loss_on="last": only the final assistant turn; earlier turns are zeroed too (Ghost Attention, 3.3);
- loss_on="all": every token (plain language-model pre-training on dialogue text).

An assistant segment runs from after the generation prompt to the end of the turn, so it holds
the EOS token: the model learns to stop. A final reply marked {"truncated": True} (a sample cut off
at max_new_tokens, kept by rejection sampling only where no sample of its prompt finished) ends
right after its text instead: the model is not taught to stop mid-sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from reward_training.data.chat import Message, end_of_turn_drop, messages_check, render_chat

IGNORE = -100  # label of a token that carries no loss
LossOn = Literal["assistant", "last", "all"]


@dataclass(frozen=True)
class SFTTokens:
    input_ids: list[int]
    labels: list[int]  # IGNORE where the loss is zeroed

    @property
    def loss_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE)


def sft_example(prompt: list[Message] | str, answer: str) -> list[Message]:
    """A prompt/answer pair as a dialogue; a string prompt is one user message."""
    if isinstance(prompt, str):
        prompt = [{"role": "user", "content": prompt}]
    return [*prompt, {"role": "assistant", "content": answer}]


def reply_truncated(messages: list[Message]) -> bool:
    """Whether the dialogue's final reply is marked as cut off at max_new_tokens ({"truncated": True})."""
    return bool(messages) and isinstance(messages[-1], dict) and bool(messages[-1].get("truncated"))


def dialogue_segments(tokenizer: Any, messages: list[Message]) -> list[tuple[str, int | None]]:
    """The rendered dialogue cut into (text, assistant turn number or None) segments.

    Segment texts join into the rendering of the whole dialogue, except that a final reply marked
    truncated ends after its content (no end-of-turn). Raises ValueError when the template does not
    render a dialogue incrementally (a prompt is not a prefix of its answer).
    """
    truncated = reply_truncated(messages)
    messages = messages_check(messages)
    if not messages or messages[-1]["role"] != "assistant":
        raise ValueError("an SFT example must end with an assistant reply")
    segments: list[tuple[str, int | None]] = []
    done = ""
    turn = 0
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = render_chat(messages[:i], tokenizer, add_generation_prompt=True) if i else ""
        full = render_chat(messages[: i + 1], tokenizer, add_generation_prompt=False)
        if not prompt.startswith(done) or not full.startswith(prompt):
            raise ValueError("the chat template does not render this dialogue turn by turn")
        if len(prompt) > len(done):
            segments.append((prompt[len(done) :], None))
        segments.append((full[len(prompt) :], turn))
        done, turn = full, turn + 1
    if truncated:
        text, last = segments[-1]
        segments[-1] = (end_of_turn_drop(text, messages[-1]["content"]), last)
    return segments


def sft_tokenize(tokenizer: Any, messages: list[Message], *, loss_on: LossOn = "assistant") -> SFTTokens:
    """Token ids and labels of one dialogue (segments tokenized one by one, as at generation)."""
    segments = dialogue_segments(tokenizer, messages)
    last_turn = max(turn for _, turn in segments if turn is not None)
    input_ids: list[int] = []
    labels: list[int] = []
    for text, turn in segments:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        trained = loss_on == "all" or (turn is not None and (loss_on == "assistant" or turn == last_turn))
        input_ids += ids
        labels += ids if trained else [IGNORE] * len(ids)
    return SFTTokens(input_ids=input_ids, labels=labels)


def sft_truncate(tokens: SFTTokens, max_length: int) -> SFTTokens:
    """Keep the first max_length tokens (the caller drops an example left with no loss tokens)."""
    return SFTTokens(tokens.input_ids[:max_length], tokens.labels[:max_length])


def sft_collate(batch: list[SFTTokens], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a micro-batch: input_ids, attention_mask and labels, each (B, T)."""
    length = max(len(t.input_ids) for t in batch)
    input_ids = torch.full((len(batch), length), pad_token_id, dtype=torch.long)  # (B, T)
    attention_mask = torch.zeros((len(batch), length), dtype=torch.long)  # (B, T)
    labels = torch.full((len(batch), length), IGNORE, dtype=torch.long)  # (B, T)
    for i, tokens in enumerate(batch):
        n = len(tokens.input_ids)
        input_ids[i, :n] = torch.tensor(tokens.input_ids)
        attention_mask[i, :n] = 1
        labels[i, :n] = torch.tensor(tokens.labels)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def token_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Summed next-token cross-entropy over labelled positions.

    logits (B, T, V) predict token t+1 from position t; labels (B, T) with IGNORE where zeroed.
    """
    shifted = logits[:, :-1, :].float()  # (B, T-1, V)
    targets = labels[:, 1:]  # (B, T-1)
    return torch.nn.functional.cross_entropy(
        shifted.reshape(-1, shifted.shape[-1]), targets.reshape(-1), ignore_index=IGNORE, reduction="sum"
    )
