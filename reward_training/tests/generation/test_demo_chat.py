"""The committed demo chat model (assets/demo-chat) answers in English-looking assistant text."""

import re
from pathlib import Path

from reward_training.generation import best_of_k_generate, model_load

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "assets" / "demo-chat"
WORDS = REPO / "tests" / "data" / "english_words.txt"

# Prompts written for this test: none is in the HH dialogues the model was trained on.
UNSEEN_PROMPTS = [
    "What should I cook for dinner tonight?",
    "Can you help me write a letter to my landlord?",
    "How do I learn to play the guitar?",
    "What is a good way to save money each month?",
    "My dog keeps barking at night. What can I do?",
    "Tell me something interesting about the moon.",
    "How can I sleep better?",
    "What are some fun things to do on a rainy day?",
    "Is it safe to swim right after eating?",
    "How do I make friends in a new city?",
    "What is the best way to study for an exam?",
    "Can you recommend a good book to read?",
    "Why do cats purr?",
    "How do I fix a flat tire on my bike?",
    "What should I say to my boss if I want a raise?",
    "How do plants grow?",
    "I feel lonely today.",
    "What is your favorite color?",
    "How can I be more patient with my kids?",
    "Should I buy a new car or a used one?",
]


def words_of(text: str) -> list[str]:
    """Lowercase words, curly apostrophes made straight and a final "'s" dropped (the list has no possessives)."""
    words = re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower().replace("\u2019", "'"))
    return [w[:-2] if w.endswith("'s") else w for w in words]


def test_english_word_list_is_shipped():
    english = set(WORDS.read_text().split())
    assert len(english) > 50_000 and {"the", "dog", "don't"} <= english


def test_demo_model_answers_in_english():
    # given the committed demo model and 20 prompts it never saw
    assert (DEMO / "model.safetensors").is_file(), "the demo chat model is not committed in assets/demo-chat"
    english = set(WORDS.read_text().split())
    loaded = model_load(DEMO, device="cpu")
    prompts = [[{"role": "user", "content": p}] for p in UNSEEN_PROMPTS]
    # when it samples one reply to each
    replies = best_of_k_generate(
        loaded, prompts, k=1, temperature=0.7, top_p=0.9, max_new_tokens=48, seed=0, batch_size=20
    )
    texts = [r[0].text for r in replies]
    # then the replies are real text, and at least 80% of their words are English words
    words = [w for text in texts for w in words_of(text)]
    assert sum(len(words_of(t)) >= 3 for t in texts) >= 16, texts
    known = sum(w in english for w in words) / len(words)
    assert known >= 0.8, (known, texts)
    # and they are the assistant's reply, not a made-up continuation of the dialogue
    assert not any(marker in t for t in texts for marker in ("Human:", "<|user|>", "[INST]")), texts
