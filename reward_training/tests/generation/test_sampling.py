import dataclasses

import torch

from reward_training.generation import (
    SampleSettings,
    best_of_k_generate,
    next_tokens,
    samples_generate,
)

HELLO = [{"role": "system", "content": "Be nice."}, {"role": "user", "content": "Hello there"}]
PROMPTS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "user", "content": "What is the capital of France? Please tell me about Paris and the sea."}],
    HELLO,
    [{"role": "user", "content": "Can you tell me a story about a dog?"}],
    [{"role": "user", "content": "Why?"}],
]


def test_next_tokens_greedy_and_top_p():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0]] * 3)  # (3, 4)
    # temperature 0 is greedy; a tiny top_p keeps only the best token; top_p 1 can pick any
    picked = next_tokens(
        logits, torch.tensor([0.0, 1.0, 1.0]), torch.tensor([1.0, 0.01, 1.0]), torch.tensor([0.999, 0.999, 0.999])
    )
    assert picked[:2].tolist() == [1, 1]
    assert picked[2].item() == 0  # the last of the descending order at u close to 1


def test_next_tokens_frequencies_follow_softmax():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]])).repeat(20000, 1)
    u = torch.rand(20000, generator=torch.Generator().manual_seed(0))
    picked = next_tokens(logits, torch.ones(20000), torch.ones(20000), u)
    freq = torch.bincount(picked, minlength=3).float() / 20000
    assert torch.allclose(freq, torch.tensor([0.5, 0.3, 0.2]), atol=0.02)
    # top_p 0.6 keeps the first two tokens only, renormalised
    picked = next_tokens(logits, torch.ones(20000), torch.full((20000,), 0.6), u)
    freq = torch.bincount(picked, minlength=3).float() / 20000
    assert torch.allclose(freq, torch.tensor([0.625, 0.375, 0.0]), atol=0.02)


def test_per_row_settings_and_seed_reproduces_a_sample(tiny_loaded):
    settings = [SampleSettings(0.7, 0.9, 12, 1), SampleSettings(1.3, 1.0, 20, 2), SampleSettings(1.0, 0.95, 16, 3)]
    samples = samples_generate(tiny_loaded, HELLO, settings)
    assert [s.settings for s in samples] == settings
    assert [s.completion_tokens for s in samples] == [12, 20, 16]  # a random model rarely says EOS
    assert all(s.prompt_tokens == samples[0].prompt_tokens > 0 and s.seconds > 0 for s in samples)
    assert len({tuple(s.token_ids) for s in samples}) == 3
    # the same seed alone, or among other rows, gives the same sample
    again = samples_generate(tiny_loaded, HELLO, [SampleSettings(9.0, 1.0, 5, 7), settings[1]])
    assert again[1].token_ids == samples[1].token_ids and again[1].text == samples[1].text
    other_seed = samples_generate(tiny_loaded, HELLO, [dataclasses.replace(settings[1], seed=99)])
    assert other_seed[0].token_ids != samples[1].token_ids


def test_greedy_matches_transformers_generate(tiny_loaded):
    from reward_training.generation import prompt_encode

    sample = samples_generate(tiny_loaded, PROMPTS[1], [SampleSettings(0.0, 1.0, 12, 0)])[0]
    ids = torch.tensor([prompt_encode(tiny_loaded, PROMPTS[1], 12)])
    with torch.inference_mode():
        out = tiny_loaded.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False)
    assert sample.token_ids == out[0, ids.shape[1] :].tolist()


def test_eos_stops_a_row_and_not_the_others(tiny_loaded):
    # given a model whose greedy first token we declare to be EOS
    first = samples_generate(tiny_loaded, HELLO, [SampleSettings(0.0, 1.0, 1, 0)])[0].token_ids[0]
    loaded = dataclasses.replace(tiny_loaded, eos_token_ids=(first,))
    # when a greedy row and a hot sampling row share a batch
    greedy, hot = samples_generate(loaded, HELLO, [SampleSettings(0.0, 1.0, 10, 0), SampleSettings(1.5, 1.0, 10, 4)])
    # then the greedy row stops at once on EOS, and the EOS token is not in its text
    assert greedy.finished_with_eos and greedy.completion_tokens == 1 and greedy.text == ""
    assert hot.completion_tokens > 1
    assert hot.finished_with_eos == (hot.token_ids[-1] == first)
    assert first not in hot.token_ids[:-1]


def test_best_of_k_returns_k_per_prompt_in_input_order(tiny_loaded):
    results = best_of_k_generate(
        tiny_loaded, PROMPTS, k=3, temperature=1.0, top_p=0.95, max_new_tokens=8, seed=5, batch_size=2
    )
    assert [len(r) for r in results] == [3] * len(PROMPTS)
    for i, samples in enumerate(results):
        # each prompt's samples carry that prompt's token count (input order kept despite sorting)
        alone = samples_generate(tiny_loaded, PROMPTS[i], [samples[0].settings])[0]
        assert {s.prompt_tokens for s in samples} == {alone.prompt_tokens}
        assert alone.token_ids == samples[0].token_ids
        assert len({s.settings.seed for s in samples}) == 3
    # batching (and thus padding) does not change the samples
    one_batch = best_of_k_generate(
        tiny_loaded, PROMPTS, k=3, temperature=1.0, top_p=0.95, max_new_tokens=8, seed=5, batch_size=len(PROMPTS)
    )
    assert [[s.token_ids for s in r] for r in one_batch] == [[s.token_ids for s in r] for r in results]


def test_progress_reports_the_texts_so_far_and_changes_nothing(tiny_loaded, monkeypatch):
    from reward_training.generation import sampling

    settings = [SampleSettings(1.0, 0.95, 30, 11), SampleSettings(1.2, 1.0, 20, 12)]
    quiet = samples_generate(tiny_loaded, HELLO, settings)
    # given no throttle, so that every decoding step but the last reports
    monkeypatch.setattr(sampling, "PROGRESS_EVERY_S", 0.0)
    reports: list[list[str]] = []
    samples = samples_generate(tiny_loaded, HELLO, settings, on_progress=reports.append)
    # then the samples are those of a call without progress (the same seeds, the same tokens)
    assert [s.token_ids for s in samples] == [s.token_ids for s in quiet]
    assert [s.text for s in samples] == [s.text for s in quiet]
    # and the progress came often, one text per row in the settings' order, each the start of the final
    # text but for its last characters (a character whose bytes span tokens is not complete yet)
    assert len(reports) >= 10 and all(len(texts) == 2 for texts in reports)
    for texts in reports:
        for text, sample in zip(texts, samples):
            assert sample.text.startswith(text[:-3])
    assert sum(map(len, reports[-1])) > sum(map(len, reports[0]))
    assert max(len(texts[1]) for texts in reports) <= len(samples[1].text) + 3


def test_progress_is_throttled_after_the_first_token(tiny_loaded):
    from reward_training.generation.sampling import _Progress, _Row

    reports = []
    progress = _Progress(tiny_loaded, reports.append, every_s=3600.0)
    for n in range(5):
        progress.step([_Row(tokens=[5] * (n + 1))])
    assert len(reports) == 1  # the first step at once, then nothing within the hour


def test_a_bf16_decoding_copy_samples_reproducibly_and_leaves_best_of_k_in_float32(tiny_model_dir, tiny_loaded):
    from reward_training.generation import model_load

    # given the same model loaded with a bf16 copy for decoding (what a CPU sampling worker does)
    fast = model_load(tiny_model_dir, device="cpu", decode_dtype=torch.bfloat16)
    assert fast.model.dtype == torch.float32 and fast.decoder.dtype == torch.bfloat16
    assert model_load(tiny_model_dir, device="cpu", decode_dtype=torch.float32).decoder is None
    settings = [SampleSettings(temperature=0.9, top_p=0.95, max_new_tokens=16, seed=s) for s in (3, 4)]
    # when a turn's two samples are drawn twice
    first, again = samples_generate(fast, HELLO, settings), samples_generate(fast, HELLO, settings)
    # then a seed reproduces its sample, and the first token (from the float32 prefill) is float32's
    assert [s.token_ids for s in first] == [s.token_ids for s in again]
    plain = samples_generate(tiny_loaded, HELLO, settings)
    assert [s.token_ids[0] for s in first] == [s.token_ids[0] for s in plain]
    assert all(1 <= s.completion_tokens <= 16 for s in first)
    # best-of-K (large, compute-bound batches) decodes in float32 whatever the copy
    best = best_of_k_generate(fast, PROMPTS[:2], k=2, max_new_tokens=8, seed=1)
    reference = best_of_k_generate(tiny_loaded, PROMPTS[:2], k=2, max_new_tokens=8, seed=1)
    assert [[s.token_ids for s in row] for row in best] == [[s.token_ids for s in row] for row in reference]
