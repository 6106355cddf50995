"""Scoring text with a trained reward model: batched, no gradients, the training truncation rules.

RewardScorer is what evaluation, rejection sampling and PPO use:

    scorer = RewardScorer("models/rm-helpfulness-v1")
    scores = scorer.score(prompts, responses)  # (N,) float tensor on the CPU
    scores = scorer.score(prompts, responses, finished=[s.finished_with_eos for s in samples])

A reply that did not finish (cut off at max_new_tokens) is scored as written, with no end-of-turn.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import torch
from tqdm import tqdm

from reward_training.data.chat import Message
from reward_training.data.pair_encoding import chat_format_resolve, pairs_tokenize, responses_tokenize
from reward_training.data.preferences import PreferencePair
from reward_training.data.truncation import TokenizedPair
from reward_training.reward.batching import collate_plain
from reward_training.reward.model import RewardModel, reward_model_load
from reward_training.runtime import device_pick, dtype_pick

CARD_NAME = "reward_model.json"  # written next to the weights by the trainer: how the model reads text


@torch.no_grad()
def pairs_score(
    model: RewardModel,
    tokenized: Sequence[TokenizedPair],
    pad_id: int,
    *,
    batch_size: int,
    device: torch.device,
    progress: bool = False,
) -> tuple[list[float], list[float]]:
    """Rewards of each pair's chosen and rejected side, in the order given (batches sorted by length).

    With progress, a bar on stderr counts the pairs scored.
    """
    order = sorted(range(len(tokenized)), key=lambda i: tokenized[i].plain_length)
    chosen, rejected = [0.0] * len(tokenized), [0.0] * len(tokenized)
    was_training = model.training
    model.eval()
    with tqdm(total=len(order), disable=not progress, file=sys.stderr, desc="scoring", unit="pair") as bar:
        for start in range(0, len(order), batch_size):
            ids = order[start : start + batch_size]
            batch = collate_plain([tokenized[i] for i in ids], pad_id)
            r_c, r_r = batch.split(model(**batch.model_inputs(device)))
            for i, c, r in zip(ids, r_c.tolist(), r_r.tolist()):
                chosen[i], rejected[i] = c, r
            bar.update(len(ids))
    model.train(was_training)
    return chosen, rejected


@torch.no_grad()
def sequences_score(
    model: RewardModel, sequences: Sequence[list[int]], pad_id: int, *, batch_size: int, device: torch.device
) -> torch.Tensor:
    """Rewards of token sequences (each lead + history + reply + trail): (N,)."""
    scores = torch.zeros(len(sequences))
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    for start in range(0, len(order), batch_size):
        ids = order[start : start + batch_size]
        width = max(len(sequences[i]) for i in ids)
        input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)  # (b, T)
        mask = torch.zeros((len(ids), width), dtype=torch.long)  # (b, T)
        for row, i in enumerate(ids):
            input_ids[row, : len(sequences[i])] = torch.tensor(sequences[i], dtype=torch.long)
            mask[row, : len(sequences[i])] = 1
        rewards = model(input_ids=input_ids.to(device), attention_mask=mask.to(device))[:, 0]  # (b,)
        scores[torch.tensor(ids)] = rewards.float().cpu()
    return scores


class RewardScorer:
    """A trained reward model loaded for scoring (any AutoModelForSequenceClassification directory)."""

    def __init__(
        self, model_dir: str | Path, *, device: str | None = None, batch_size: int = 16, max_length: int | None = None
    ) -> None:
        card_path = Path(model_dir) / CARD_NAME
        self.card: dict[str, Any] = json.loads(card_path.read_text()) if card_path.is_file() else {}
        self.device = device_pick(device)
        self.model, self.tokenizer = reward_model_load(model_dir, dtype=dtype_pick(self.device))
        self.model.to(self.device).eval()
        limit = getattr(self.tokenizer, "model_max_length", 1024) or 1024
        self.max_length = max_length or self.card.get("max_length") or min(int(limit), 1024)
        self.chat_format = self.card.get("chat_format", "auto")
        self.batch_size = batch_size

    def score(
        self, prompts: Sequence[Sequence[Message]], responses: Sequence[str], finished: Sequence[bool] | None = None
    ) -> torch.Tensor:
        """The reward of each response to its prompt (a message list ending with a user turn): (N,).

        `finished[i]` False scores response i as cut off: no end-of-turn after it (None: all finished).
        """
        sequences = responses_tokenize(
            prompts,
            responses,
            self.tokenizer,
            max_length=self.max_length,
            encoder=self.model.encoder,
            chat_format=self.chat_format,
            finished=finished,
        )
        return sequences_score(
            self.model, sequences, self.tokenizer.pad_token_id, batch_size=self.batch_size, device=self.device
        )

    def chat_template_used(self) -> dict[str, Any]:
        """How this scorer renders dialogues: the resolved format and, for a tokenizer template, its
        hash and source (RewardBench scores move by tens of points with the template)."""
        fmt = chat_format_resolve(self.chat_format, self.tokenizer, encoder=self.model.encoder)
        used: dict[str, Any] = {"chat_format": fmt, "configured": self.chat_format}
        if fmt == "template":
            template = self.tokenizer.chat_template
            used["template_sha256"] = hashlib.sha256(template.encode("utf-8")).hexdigest()[:16]
            used["template_from"] = getattr(self.tokenizer, "name_or_path", "") or "tokenizer"
        else:
            used["description"] = {
                "llama2": "Llama 2 [INST] format (built in)",
                "hh": "HH text, Human:/Assistant: (built in)",
            }[fmt]
        return used

    def score_pairs(
        self, pairs: Sequence[PreferencePair], *, progress: bool = False
    ) -> tuple[list[float], list[float], list[int]]:
        """(chosen rewards, rejected rewards, indices of pairs dropped as identical after truncation)."""
        tokenized, dropped = pairs_tokenize(
            pairs, self.tokenizer, max_length=self.max_length, encoder=self.model.encoder, chat_format=self.chat_format
        )
        chosen, rejected = pairs_score(
            self.model,
            tokenized,
            self.tokenizer.pad_token_id,
            batch_size=self.batch_size,
            device=self.device,
            progress=progress,
        )
        return chosen, rejected, dropped
