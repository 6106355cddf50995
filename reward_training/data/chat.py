"""Turning a list of chat messages into model text.

A message is a dict {"role": "system"|"user"|"assistant", "content": str}, the same shape as the
export format (docs/architecture.md). The tokenizer's own chat template is used where it has one;
otherwise the chat format of Meta's Llama 2 chat models:

    <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] {user} [/INST]
"""

from __future__ import annotations

from typing import Any, Iterable

Message = dict[str, str]

ROLES = ("system", "user", "assistant")


def messages_check(messages: Iterable[Any]) -> list[Message]:
    """Validate a message list: dicts with a known role and string content. Raises ValueError."""
    checked: list[Message] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise ValueError(f"message {i} is not an object")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise ValueError(f"message {i} has role {role!r}; expected one of {', '.join(ROLES)}")
        if not isinstance(content, str):
            raise ValueError(f"message {i} has no string content")
        checked.append({"role": role, "content": content})
    return checked


def render_llama2(messages: list[Message], *, add_generation_prompt: bool, bos: str = "<s>", eos: str = "</s>") -> str:
    """Render messages in the Llama 2 chat format.

    The system message, if first, is folded into the first user turn. With
    `add_generation_prompt` the text ends after the last "[/INST]", ready for the reply;
    otherwise a final assistant message is closed with `eos`.
    """
    system = None
    if messages and messages[0]["role"] == "system":
        system, messages = messages[0]["content"], messages[1:]
    text = ""
    pending_user: str | None = None
    for message in messages:
        if message["role"] == "user":
            content = message["content"].strip()
            if system is not None:
                content = f"<<SYS>>\n{system}\n<</SYS>>\n\n{content}"
                system = None
            if pending_user is not None:  # two user turns in a row: close the first with no reply
                text += f"{bos}[INST] {pending_user} [/INST] {eos}"
            pending_user = content
        elif message["role"] == "assistant":
            user = pending_user if pending_user is not None else ""
            text += f"{bos}[INST] {user} [/INST] {message['content'].strip()} {eos}"
            pending_user = None
        else:
            raise ValueError("a system message may only come first")
    if pending_user is not None:
        text += f"{bos}[INST] {pending_user} [/INST]"
    elif add_generation_prompt:
        raise ValueError("add_generation_prompt needs the messages to end with a user turn")
    return text


def render_chat(messages: list[Message], tokenizer: Any = None, *, add_generation_prompt: bool) -> str:
    """Render messages with the tokenizer's chat template, falling back to the Llama 2 format.

    The result already holds the special tokens: tokenize it with add_special_tokens=False.
    """
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    bos = getattr(tokenizer, "bos_token", None) or "<s>"
    eos = getattr(tokenizer, "eos_token", None) or "</s>"
    return render_llama2(messages, add_generation_prompt=add_generation_prompt, bos=bos, eos=eos)


def end_of_turn_drop(turn: str, content: str) -> str:
    """A rendered assistant turn cut right after its content, without the end-of-turn after it.

    A reply cut off at max_new_tokens never ended its turn, so the EOS / end-of-turn markup that
    the chat format puts after a finished reply does not belong to it: such a reply is scored and
    trained on as written. An empty reply leaves nothing. Raises ValueError when the format does not
    render the content verbatim (then there is no telling where the reply ends).
    """
    content = content.strip()
    if not content:
        return ""
    at = turn.rfind(content)
    if at < 0:
        raise ValueError("the chat format does not render the reply verbatim: cannot drop its end-of-turn")
    return turn[: at + len(content)]


def messages_prompt_split(chosen: list[Message], rejected: list[Message]) -> tuple[list[Message], str, str]:
    """Split two whole conversations into their shared history and final replies (TRL's implicit prompt).

    The history is the longest run of identical leading messages; after it, each side must hold exactly
    one assistant message, and the history must end with a user message. Raises ValueError.
    """
    common = 0
    for a, b in zip(chosen, rejected):
        if a != b:
            break
        common += 1
    if common == len(chosen) or common == len(rejected):
        raise ValueError("the chosen and rejected conversations are the same (or one holds the other whole)")
    prompt = chosen[:common]
    if not prompt or prompt[-1]["role"] != "user":
        raise ValueError("the two conversations share no history ending with a user message")
    for side, messages in (("chosen", chosen), ("rejected", rejected)):
        reply = messages[common:]
        if len(reply) != 1 or reply[0]["role"] != "assistant":
            raise ValueError(f'"{side}" must end in exactly one assistant message after the shared history')
    return prompt, chosen[common]["content"], rejected[common]["content"]


def text_prompt_split(chosen: str, rejected: str) -> tuple[str, str, str]:
    """Split two texts that start alike into (prompt, chosen reply, rejected reply), TRL's implicit prompt
    for plain text: the prompt is their common prefix, cut back to the last whitespace so that no word is
    split. Raises ValueError when they share no prefix."""
    common = 0
    for a, b in zip(chosen, rejected):
        if a != b:
            break
        common += 1
    cut = max(chosen.rfind(" ", 0, common + 1), chosen.rfind("\n", 0, common + 1))
    prompt = chosen[:cut].strip() if cut > 0 else ""
    if not prompt:
        raise ValueError('no "prompt", and "chosen" and "rejected" share no leading text to take as one')
    return prompt, chosen[cut:].strip(), rejected[cut:].strip()
