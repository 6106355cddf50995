"""Preference pairs as model text and token ids, truncated to `max_length`.

Text: the history is rendered as a generation prompt, and each reply as what the full dialogue
adds after it, so `history + reply` is exactly the rendered dialogue and the history's tokens are
shared by both sides (prefix sharing relies on it). Chat formats:
- "auto": the tokenizer's chat template where it has one; otherwise the Llama 2 format for a
  decoder and the HH text format ("\\n\\nHuman: ...\\n\\nAssistant: ...") for an encoder;
- "llama2", "hh": that format whatever the tokenizer.

A reply cut off at max_new_tokens (finished=False) is encoded as written: its text ends the
sequence, without the EOS / end-of-turn that the format puts after a finished reply.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from transformers.utils import logging as hf_logging

from reward_training.data.chat import Message, end_of_turn_drop, render_chat, render_llama2
from reward_training.data.hh import hh_render
from reward_training.data.preferences import PreferencePair
from reward_training.data.truncation import TokenizedPair, pair_truncate, response_truncate

CHAT_FORMATS = ("auto", "llama2", "hh")


def chat_format_resolve(chat_format: str, tokenizer: Any, *, encoder: bool) -> str:
    if chat_format not in CHAT_FORMATS:
        raise ValueError(f"unknown chat format {chat_format!r}; expected one of {', '.join(CHAT_FORMATS)}")
    if chat_format != "auto":
        return chat_format
    if getattr(tokenizer, "chat_template", None):
        return "template"
    return "hh" if encoder else "llama2"


def dialogue_render(
    prompt: Sequence[Message], reply: str, tokenizer: Any, fmt: str, *, finished: bool = True
) -> tuple[str, str]:
    """(history text, reply text) for a resolved format: history + reply is the rendered dialogue
    (without the end-of-turn after a reply that did not finish)."""
    prompt = list(prompt)
    if fmt == "hh":  # no end-of-turn marker in this format
        return hh_render(prompt) + "\n\nAssistant:", " " + reply
    full_messages = [*prompt, {"role": "assistant", "content": reply}]
    if fmt == "template":
        history = render_chat(prompt, tokenizer, add_generation_prompt=True)
        full = render_chat(full_messages, tokenizer, add_generation_prompt=False)
    else:  # llama2
        bos = getattr(tokenizer, "bos_token", None) or "<s>"
        eos = getattr(tokenizer, "eos_token", None) or "</s>"
        history = render_llama2(prompt, add_generation_prompt=True, bos=bos, eos=eos)
        full = render_llama2(full_messages, add_generation_prompt=False, bos=bos, eos=eos)
    if not full.startswith(history):
        raise ValueError("the chat template does not render the dialogue as history + reply")
    turn = full[len(history) :]
    return history, turn if finished else end_of_turn_drop(turn, reply)


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence "sequence longer than the model maximum": texts are tokenized whole, then truncated."""
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)


def special_tokens_around(tokenizer: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The special tokens a tokenizer puts before and after a text ([CLS] / [SEP] for BERT)."""
    plain = tokenizer("hello world", add_special_tokens=False)["input_ids"]
    full = tokenizer("hello world", add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return tuple(full[:start]), tuple(full[start + len(plain) :])
    return (), ()


def pairs_tokenize(
    pairs: Sequence[PreferencePair],
    tokenizer: Any,
    *,
    max_length: int,
    encoder: bool,
    chat_format: str = "auto",
) -> tuple[list[TokenizedPair], list[int]]:
    """Tokenize and truncate pairs. Returns (kept pairs, indices of pairs dropped as identical)."""
    fmt = chat_format_resolve(chat_format, tokenizer, encoder=encoder)
    lead, trail = special_tokens_around(tokenizer) if encoder else ((), ())
    room = max_length - len(lead) - len(trail)
    histories, chosens, rejecteds = [], [], []
    for pair in pairs:
        history, chosen = dialogue_render(pair.prompt, pair.chosen, tokenizer, fmt)
        history_r, rejected = dialogue_render(pair.prompt, pair.rejected, tokenizer, fmt)
        if history_r != history:
            raise ValueError("the two sides of a pair render different histories")
        histories.append(history)
        chosens.append(chosen)
        rejecteds.append(rejected)
    with _quiet():
        ids = [
            tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
            for texts in (histories, chosens, rejecteds)
        ]
    kept: list[TokenizedPair] = []
    dropped: list[int] = []
    for index, (h, c, r) in enumerate(zip(*ids)):
        h, c, r = pair_truncate(h, c, r, room)
        tokenized = TokenizedPair(
            lead=lead, history=tuple(h), chosen=tuple(c), rejected=tuple(r), trail=trail, index=index
        )
        if tokenized.identical:
            dropped.append(index)
        else:
            kept.append(tokenized)
    return kept, dropped


def responses_tokenize(
    prompts: Sequence[Sequence[Message]],
    responses: Sequence[str],
    tokenizer: Any,
    *,
    max_length: int,
    encoder: bool,
    chat_format: str = "auto",
    finished: Sequence[bool] | None = None,
) -> list[list[int]]:
    """Token ids of single (history, reply) dialogues, truncated by the same rules as pairs.

    `finished[i]` False: reply i was cut off at max_new_tokens and gets no end-of-turn (None: all finished).
    """
    if len(prompts) != len(responses) or (finished is not None and len(finished) != len(responses)):
        raise ValueError("prompts, responses and finished flags differ in number")
    fmt = chat_format_resolve(chat_format, tokenizer, encoder=encoder)
    lead, trail = special_tokens_around(tokenizer) if encoder else ((), ())
    room = max_length - len(lead) - len(trail)
    ended = [True] * len(responses) if finished is None else [bool(f) for f in finished]
    texts = [dialogue_render(p, r, tokenizer, fmt, finished=f) for p, r, f in zip(prompts, responses, ended)]
    if not texts:
        return []
    with _quiet():
        histories = tokenizer([h for h, _ in texts], add_special_tokens=False)["input_ids"]
        replies = tokenizer([r for _, r in texts], add_special_tokens=False)["input_ids"]
    sequences = []
    for h, r in zip(histories, replies):
        h, r = response_truncate(h, r, room)
        sequences.append([*lead, *h, *r, *trail])
    return sequences
