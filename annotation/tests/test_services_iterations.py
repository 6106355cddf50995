"""The iteration services: the batches an iteration opens, its temperatures, the RMs' accuracy before
retraining, and each policy lineage's rejection-sampling pool."""

import random

import pytest

from annotation.models import Batch
from annotation.services.model_versions import model_version_register, model_version_set_current
from annotation.services.sampling import sampling_plan_draw
from annotation.tests.factories import BatchFactory, ModelVersionFactory, active_batch, annotate, ready_turn

pytestmark = pytest.mark.django_db


def test_an_iterations_batches_sample_the_current_policy_and_its_parent_at_two_temperatures():
    from annotation.services.iteration_config import IterationConfig
    from annotation.services.iterations import _open_batches

    v0 = ModelVersionFactory(name="sft")
    v1 = ModelVersionFactory(name="policy-iter1", parent=v0, is_current=True)
    last_week = active_batch("safety")
    batches = _open_batches(2, v1, IterationConfig(url=""))

    assert [b.name for b in batches] == ["iter2-helpfulness", "iter2-safety"]
    assert all(b.status == Batch.Status.ACTIVE for b in batches)
    last_week.refresh_from_db()
    assert last_week.status == Batch.Status.CLOSED
    for batch in batches:
        assert sorted(batch.policy_versions.values_list("name", flat=True)) == ["policy-iter1", "sft"]
        # each pair: one reply from each version, at temperatures from the two halves of the range
        plan = sampling_plan_draw(
            versions=list(batch.policy_versions.all()),
            temperature_min=batch.temperature_min,
            temperature_max=batch.temperature_max,
            top_p=0.9,
            max_new_tokens=8,
            rng=random.Random(3),
        )
        assert {v.model_name for v in plan} == {"policy-iter1", "sft"}
        assert plan[0].temperature != plan[1].temperature


def test_a_first_policy_samples_alone_at_two_temperatures_and_a_rollback_pairs_with_the_policy_sampled_before():
    from annotation.services.iteration_config import IterationConfig
    from annotation.services.iterations import _open_batches

    first = ModelVersionFactory(name="sft", is_current=True)
    (batch, _) = _open_batches(1, first, IterationConfig(url=""))
    assert list(batch.policy_versions.values_list("name", flat=True)) == ["sft"]
    assert batch.temperature_min < batch.temperature_max

    # a policy registered without a parent pairs with the one the latest batch sampled
    other = ModelVersionFactory(name="registered-by-hand")
    (batch, _) = _open_batches(2, other, IterationConfig(url=""))
    assert sorted(batch.policy_versions.values_list("name", flat=True)) == ["registered-by-hand", "sft"]
    # and --no-sample-parent keeps one version
    (batch, _) = _open_batches(3, other, IterationConfig(url="", sample_parent=False))
    assert list(batch.policy_versions.values_list("name", flat=True)) == ["registered-by-hand"]


def test_rejection_sampling_temperature_follows_the_policys_rlhf_round():
    from annotation.services.iteration_config import IterationConfig
    from annotation.services.iterations import _rlhf_round

    sft = ModelVersionFactory(name="sft")
    rs1 = ModelVersionFactory(name="policy-iter1", parent=sft, lineage={"method": "rejection_sampling"})
    ppo1 = ModelVersionFactory(name="policy-iter1-ppo", parent=rs1, lineage={"method": "ppo"})
    rs2 = ModelVersionFactory(name="policy-iter2", parent=ppo1, lineage={"method": "rejection_sampling"})
    assert [_rlhf_round(v) for v in (sft, rs1, ppo1, rs2)] == [0, 1, 1, 2]

    config = IterationConfig(url="")  # paper Fig. 8: 1.0 for the SFT model, 1.2 once RLHF has begun
    assert [config.training(_rlhf_round(v)).temperature for v in (sft, rs1, rs2)] == [1.0, 1.2, 1.2]
    schedule = IterationConfig(url="", rs_temperatures=(0.9, 1.1, 1.3))
    assert [schedule.rs_temperature(r) for r in range(5)] == [0.9, 1.1, 1.3, 1.3, 1.3]
    assert IterationConfig(url="", temperature=0.8).rs_temperature(3) == 0.8  # one T for this iteration
    with pytest.raises(ValueError, match="above 0"):
        IterationConfig(url="", rs_temperatures=(1.0, 0.0))


def test_an_iteration_scores_the_current_reward_models_on_each_new_batch_before_retraining(
    tmp_path, tiny_reward_model_dir
):
    from annotation.services.iterations import _accuracy_before_retraining

    helpfulness, safety = BatchFactory(track="helpfulness"), BatchFactory(track="safety")
    annotate(ready_turn(dialogue__batch=helpfulness), strength="significantly_better")
    annotate(ready_turn(dialogue__batch=safety), strength="better", a_safe=True, b_safe=False)
    annotate(ready_turn(dialogue__batch=safety), strength="slightly_better", a_safe=False, b_safe=False)
    assert _accuracy_before_retraining([helpfulness, safety], tmp_path) == {}  # a first iteration: no RMs yet

    for track in ("helpfulness", "safety"):
        model_version_register(
            name=f"rm-{track}-iter1", kind="reward", track=track, path=str(tiny_reward_model_dir), current=True
        )
    measured = _accuracy_before_retraining([helpfulness, safety], tmp_path)
    assert set(measured) == {helpfulness.name, safety.name}
    assert measured[helpfulness.name]["pairs"] == 1 and measured[safety.name]["pairs"] == 2
    on_safety = measured[safety.name]["safety"]
    assert on_safety["model"] == "rm-safety-iter1" and on_safety["n"] == 2
    assert set(on_safety["accuracy_by_strength"]) == {"better", "slightly_better"}
    assert {k: v["n"] for k, v in on_safety["by_safety_bin"].items()} == {
        "chosen_safe_other_unsafe": 1,
        "both_unsafe": 1,
    }
    assert measured[helpfulness.name]["helpfulness"]["by_safety_bin"]["none"]["n"] == 1


def test_each_policy_lineage_has_its_own_pool_and_a_hand_promotion_catches_up(settings, tmp_path):
    from annotation.services.training import policy_pool_dir, policy_pool_merge
    from reward_training.policy.sample_pool import pool_read, staged_write

    settings.MODEL_DIR = tmp_path
    prompt = [{"role": "user", "content": "hi"}]
    demo = ModelVersionFactory(name="demo-chat-v0", path=str(tmp_path / "demo"))
    rs = ModelVersionFactory(name="demo-iter1", parent=demo, path=str(tmp_path / "rs"))
    ppo = ModelVersionFactory(name="demo-iter1-ppo", parent=rs, path=str(tmp_path / "ppo"))
    smol = ModelVersionFactory(name="smollm2", path=str(tmp_path / "smol"))
    smol_rs = ModelVersionFactory(name="smollm2-iter1", parent=smol, path=str(tmp_path / "smol-rs"))
    staged_write(rs.path, [{"prompt": prompt, "response": "demo's", "reward": 0.5}])
    staged_write(smol_rs.path, [{"prompt": prompt, "response": "smol's", "reward": 0.5}])
    # given a PPO policy grown from a rejection-sampling step, made current by hand
    model_version_set_current(version=ppo)
    # when the next refresh catches up, the rejection-sampling step's samples join the demo lineage's pool
    assert policy_pool_merge(policy=ppo) == [1]
    assert policy_pool_merge(policy=ppo) == [1]  # again: nothing new
    assert policy_pool_dir(ppo) == policy_pool_dir(demo) == tmp_path / "rejection_pool" / "demo-chat-v0"
    assert [row["response"] for row in pool_read(policy_pool_dir(ppo))] == ["demo's"]
    # and the SmolLM2 lineage's pool stays apart until one of its policies is promoted
    assert pool_read(policy_pool_dir(smol_rs)) == []
    assert policy_pool_merge(policy=smol_rs) == [1]
    assert [row["response"] for row in pool_read(policy_pool_dir(smol))] == ["smol's"]


def test_unset_iteration_settings_are_derived_from_the_machine_and_the_policy_size():
    """run_iteration's defaults: MiniLM reward models on a CPU machine, and an SFT learning rate by the policy's
    size (3e-4 under 10M parameters, 1e-4 under 1B, the rejection-sampling default from there)."""
    import torch

    from annotation.services.iteration_config import IterationConfig
    from reward_training.reward.model import packaged_encoder_dir

    config = IterationConfig(url="")
    assert (config.k, config.comparisons, config.rm_epochs, config.rm_lr, config.sft_lr) == (16, 50, None, None, None)
    base = config.rm_base_choose("/models/policy")
    assert base["value"] == ("/models/policy" if torch.cuda.is_available() else packaged_encoder_dir())
    assert [config.sft_lr_choose(n)["value"] for n in (2_400_000, 135_000_000, 7_000_000_000)] == [3e-4, 1e-4, 1e-5]
    assert "135M parameters" in config.sft_lr_choose(135_000_000)["reason"]
    pinned = IterationConfig(url="", rm_base="/models/rm", sft_lr=2e-5)
    assert pinned.rm_base_choose("/models/policy")["value"] == "/models/rm"
    assert pinned.sft_lr_choose(135_000_000)["value"] == 2e-5
    assert pinned.training(0, sft_lr=pinned.sft_lr_choose(1)["value"]).sft_lr == 2e-5
