"""Fitting a preference pair into `max_length` tokens (issue 8, "Truncation").

A pair is (history, chosen reply, rejected reply) as token ids; each side is
lead + history + reply + trail, where lead/trail are an encoder's special tokens ([CLS] ... [SEP])
and are empty for a decoder.

- The end of the dialogue is kept, since that is where the two replies differ.
- The shared history is trimmed from the left until history + the longer reply fits, so both
  sides keep the same history (which is also what makes prefix sharing exact).
- A reply that alone exceeds the room left is cut at its end.
- A pair whose two sides become identical is reported by the caller and not trained on.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TokenizedPair:
    """A pair as token ids, already truncated. `index` points back into the list of PreferencePairs."""

    lead: tuple[int, ...]
    history: tuple[int, ...]
    chosen: tuple[int, ...]
    rejected: tuple[int, ...]
    trail: tuple[int, ...]
    index: int

    @property
    def chosen_ids(self) -> list[int]:
        return [*self.lead, *self.history, *self.chosen, *self.trail]

    @property
    def rejected_ids(self) -> list[int]:
        return [*self.lead, *self.history, *self.rejected, *self.trail]

    @property
    def identical(self) -> bool:
        return self.chosen == self.rejected

    @property
    def plain_length(self) -> int:
        """Tokens of the longer side (what the plain path pads a row to)."""
        return len(self.lead) + len(self.history) + max(len(self.chosen), len(self.rejected)) + len(self.trail)

    @property
    def packed_length(self) -> int:
        """Tokens of the prefix-shared row: history once, then both replies."""
        return len(self.history) + len(self.chosen) + len(self.rejected)


def pair_truncate(
    history: list[int], chosen: list[int], rejected: list[int], room: int
) -> tuple[list[int], list[int], list[int]]:
    """Fit history + max(chosen, rejected) into `room` tokens (max_length less the special tokens).

    Replies longer than `room` are cut at their end; the history keeps its last tokens, as many as
    fit beside the longer (possibly cut) reply.
    """
    if room < 1:
        raise ValueError("max_length leaves no room for the reply")
    chosen, rejected = chosen[:room], rejected[:room]
    keep = room - max(len(chosen), len(rejected))
    history = history[max(0, len(history) - keep) :] if keep > 0 else []
    return history, chosen, rejected


def response_truncate(history: list[int], reply: list[int], room: int) -> tuple[list[int], list[int]]:
    """The one-reply case (scoring a single response): the same rules as pair_truncate."""
    history, reply, _ = pair_truncate(history, reply, reply, room)
    return history, reply
