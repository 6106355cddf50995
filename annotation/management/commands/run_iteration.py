import argparse
from contextlib import nullcontext

from django.core.exceptions import ValidationError

from annotation.management.base import JsonCommand
from annotation.management.live_server import live_server
from annotation.services.iteration_config import IterationConfig
from annotation.services.iterations import iteration_run


def _temperatures(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"give temperatures separated by commas, such as 1.0,1.2 (got {text!r})")


class Command(JsonCommand):
    help = (
        "One RLHF iteration end to end with simulated annotators: batch → annotation over the REST API → "
        "export → both reward models → rejection sampling → promotion gate → win rates (RM and oracle)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--simulate",
            action="store_true",
            required=True,
            help="annotate with simulated annotators (the only mode so far)",
        )
        parser.add_argument("--k", type=int, default=IterationConfig.k, help="rejection sampling: samples per prompt")
        parser.add_argument(
            "--rs-temperatures",
            type=_temperatures,
            default=IterationConfig.rs_temperatures,
            help="rejection sampling's temperature by the policy's RLHF round, comma-separated: "
            "the first for the SFT model, the next after one refresh, the last for every later "
            "one (default 1.0,1.2: paper Fig. 8, the best T rises to [1.2, 1.3] with RLHF)",
        )
        parser.add_argument(
            "--temperature",
            type=float,
            help="one rejection-sampling temperature for this iteration, over --rs-temperatures",
        )
        parser.add_argument(
            "--sample-parent",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="the batches sample the current policy and its parent (or the previously sampled "
            "policy) at different temperatures (default); --no-sample-parent: the current "
            "policy alone, at two temperatures",
        )
        parser.add_argument("--ppo", action="store_true", help="PPO on top of the rejection-sampling checkpoint")
        parser.add_argument("--ppo-iterations", type=int, default=20)
        parser.add_argument(
            "--gatt",
            action="store_true",
            help="Ghost Attention on the iteration's annotated dialogues (build_gatt_data)",
        )
        parser.add_argument(
            "--context-distillation",
            action="store_true",
            help="targeted safety context distillation on the safety prompts (distill_safety_context)",
        )
        parser.add_argument("--url", help="server to drive (default: one started inside this command)")
        parser.add_argument("--users", type=int, default=4)
        parser.add_argument(
            "--comparisons", type=int, default=IterationConfig.comparisons, help="per simulated annotator and track"
        )
        parser.add_argument("--profile")
        parser.add_argument("--max-new-tokens", type=int, default=64)
        parser.add_argument("--rs-prompts")
        parser.add_argument("--heldout-prompts")
        parser.add_argument("--heldout-limit", type=int)
        parser.add_argument(
            "--rm-base",
            help="the reward models' base checkpoint (default: the current policy with CUDA, the packaged "
            "MiniLM encoder on a CPU machine)",
        )
        parser.add_argument(
            "--rm-epochs",
            type=int,
            help="passes over the data per reward model (default: derived, 3 under 20,000 pairs, else 1)",
        )
        parser.add_argument(
            "--rm-lr",
            type=float,
            help="reward models' peak learning rate (default: derived from the data and model sizes)",
        )
        parser.add_argument(
            "--sft-epochs",
            type=float,
            default=IterationConfig.sft_epochs,
            help="rejection sampling: SFT passes over the pool",
        )
        parser.add_argument(
            "--sft-lr",
            type=float,
            help="rejection sampling: SFT peak learning rate (default: derived from the policy's size: 3e-4 "
            "under 10M parameters, 1e-4 under 1B, else 1e-5)",
        )
        parser.add_argument("--promotion-threshold", type=float, default=0.5)
        parser.add_argument("--seed", type=int, default=0)

    def run(
        self,
        *,
        k,
        temperature,
        rs_temperatures,
        sample_parent,
        ppo,
        url,
        users,
        comparisons,
        profile,
        max_new_tokens,
        rs_prompts,
        heldout_prompts,
        heldout_limit,
        rm_base,
        promotion_threshold,
        seed,
        ppo_iterations,
        rm_epochs,
        rm_lr,
        sft_epochs,
        sft_lr,
        gatt,
        context_distillation,
        **_,
    ):
        options = {k_: v for k_, v in dict(rs_prompts=rs_prompts, heldout_prompts=heldout_prompts).items() if v}
        try:
            config = IterationConfig(
                url=url or "",
                users=users,
                comparisons=comparisons,
                profile=profile,
                k=k,
                temperature=temperature,
                rs_temperatures=rs_temperatures,
                sample_parent=sample_parent,
                max_new_tokens=max_new_tokens,
                heldout_limit=heldout_limit,
                rm_base=rm_base,
                rm_epochs=rm_epochs,
                rm_lr=rm_lr,
                sft_epochs=sft_epochs,
                sft_lr=sft_lr,
                promotion_threshold=promotion_threshold,
                seed=seed,
                ppo=ppo,
                ppo_iterations=ppo_iterations,
                gatt=gatt,
                context_distillation=context_distillation,
                **options,
            )
        except ValueError as error:  # before a server starts
            raise ValidationError({"iteration": [str(error)]}) from error
        with nullcontext(url) if url else live_server() as base_url:
            config.url = base_url
            try:
                return iteration_run(config)
            except ValueError as error:
                raise ValidationError({"iteration": [str(error)]}) from error
