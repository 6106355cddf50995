from pathlib import Path

from django.core.exceptions import ValidationError

from annotation.management.base import TrainingCommand, trained_policy_register
from annotation.selectors.model_versions import policy_and_reward_models_resolve
from reward_training.config import config_build
from reward_training.data.prompts import prompts_read
from reward_training.policy.ppo import PPOConfig, ppo_train


class Command(TrainingCommand):
    help = "PPO with the paper's reward: whiten(logit(Rc)) − β·KL(π ‖ π0), early stopping on held-out prompts."

    def add_arguments(self, parser):
        parser.add_argument("--policy", required=True)
        parser.add_argument("--helpfulness-rm", required=True)
        parser.add_argument("--safety-rm", required=True)
        parser.add_argument("--prompts", required=True)
        parser.add_argument("--iterations", type=int, required=True)
        parser.add_argument(
            "--beta",
            type=float,
            help="KL penalty (default: from the policy's parameter count, 0.005 from 30B on, else "
            "0.01, paper 3.2.3; the result's beta says which and why)",
        )
        parser.add_argument("--output", required=True)
        parser.add_argument("--heldout", help="prompts for early stopping")
        parser.add_argument("--lr", type=float)
        parser.add_argument("--batch-size", type=int, help="prompts per iteration (paper: 512)")
        parser.add_argument("--minibatch-size", type=int, help="rollouts per gradient step (paper: 64)")
        parser.add_argument("--max-new-tokens", type=int)
        parser.add_argument("--critic", choices=["value_head", "reward_model"])
        parser.add_argument("--seed", type=int)
        parser.add_argument("--config", help="JSON file of PPOConfig fields")
        parser.add_argument("--register", metavar="NAME")
        self.tracker_argument_add(parser)

    def run(
        self,
        *,
        policy,
        helpfulness_rm,
        safety_rm,
        prompts,
        iterations,
        beta,
        output,
        heldout,
        lr,
        batch_size,
        minibatch_size,
        max_new_tokens,
        critic,
        seed,
        config,
        register,
        tracker,
        **_,
    ):
        policy_path, policy_version, helpfulness_path, safety_path = policy_and_reward_models_resolve(
            policy, helpfulness_rm, safety_rm
        )
        try:
            ppo_config = config_build(
                PPOConfig,
                file=config,
                iterations=iterations,
                beta=beta,
                learning_rate=lr,
                batch_size=batch_size,
                minibatch_size=minibatch_size,
                max_new_tokens=max_new_tokens,
                critic=critic,
                seed=seed,
                tracker=tracker,
            )
            items = prompts_read(prompts)
            heldout_items = prompts_read(heldout) if heldout else None
        except (ValueError, OSError) as error:
            raise ValidationError({"config": [str(error)]}) from error
        result = ppo_train(
            ppo_config,
            policy_dir=policy_path,
            helpfulness_rm_dir=helpfulness_path,
            safety_rm_dir=safety_path,
            prompts=items,
            heldout_prompts=heldout_items,
            output_dir=output,
        )
        if register:
            result["registered"] = trained_policy_register(
                register,
                path=output,
                parent=policy_version,
                policy=policy,
                method="ppo",
                lineage={
                    "helpfulness_rm": helpfulness_rm,
                    "safety_rm": safety_rm,
                    "prompts": str(Path(prompts).resolve()),
                    "beta": result["beta"]["value"],
                    "iterations_run": result["iterations_run"],
                },
                metrics={
                    "heldout_rewards": result.get("heldout_rewards"),
                    "final": result.get("final"),
                    "tracking": result.get("tracking"),
                },
            )
        result.pop("history", None)
        return result
