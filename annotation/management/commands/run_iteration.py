from contextlib import nullcontext

from django.core.exceptions import ValidationError

from annotation.management.base import JsonCommand
from annotation.management.live_server import live_server
from annotation.services.iterations import IterationConfig, iteration_run


class Command(JsonCommand):
    help = ("One RLHF iteration end to end with simulated annotators: batch → annotation over the REST API → "
            "export → both reward models → rejection sampling → promotion gate → win rates (RM and oracle).")

    def add_arguments(self, parser):
        parser.add_argument("--simulate", action="store_true", required=True,
                            help="annotate with simulated annotators (the only mode so far)")
        parser.add_argument("--k", type=int, default=8)
        parser.add_argument("--temperature", type=float, default=1.0)
        parser.add_argument("--ppo", action="store_true", help="PPO on top of the rejection-sampling checkpoint")
        parser.add_argument("--ppo-iterations", type=int, default=20)
        parser.add_argument("--url", help="server to drive (default: one started inside this command)")
        parser.add_argument("--users", type=int, default=4)
        parser.add_argument("--comparisons", type=int, default=25, help="per simulated annotator and track")
        parser.add_argument("--profile")
        parser.add_argument("--max-new-tokens", type=int, default=64)
        parser.add_argument("--rs-prompts")
        parser.add_argument("--heldout-prompts")
        parser.add_argument("--heldout-limit", type=int)
        parser.add_argument("--rm-base", help="default: the current policy")
        parser.add_argument("--rm-epochs", type=int, default=1, help="passes over the data per reward model")
        parser.add_argument("--rm-lr", type=float, default=1e-4, help="reward models' peak learning rate")
        parser.add_argument("--sft-epochs", type=float, default=2.0, help="rejection sampling: SFT passes over the pool")
        parser.add_argument("--sft-lr", type=float, default=1e-4, help="rejection sampling: SFT peak learning rate")
        parser.add_argument("--promotion-threshold", type=float, default=0.5)
        parser.add_argument("--seed", type=int, default=0)

    def run(self, *, k, temperature, ppo, url, users, comparisons, profile, max_new_tokens, rs_prompts,
            heldout_prompts, heldout_limit, rm_base, promotion_threshold, seed, ppo_iterations, rm_epochs, rm_lr, sft_epochs,
            sft_lr, **_):
        options = {k_: v for k_, v in dict(rs_prompts=rs_prompts, heldout_prompts=heldout_prompts).items() if v}
        with (nullcontext(url) if url else live_server()) as base_url:
            config = IterationConfig(url=base_url, users=users, comparisons=comparisons, profile=profile, k=k,
                                     temperature=temperature, max_new_tokens=max_new_tokens,
                                     heldout_limit=heldout_limit, rm_base=rm_base, rm_epochs=rm_epochs,
                                     rm_lr=rm_lr, sft_epochs=sft_epochs, sft_lr=sft_lr,
                                     promotion_threshold=promotion_threshold, seed=seed, ppo=ppo,
                                     ppo_iterations=ppo_iterations, **options)
            try:
                return iteration_run(config)
            except ValueError as error:
                raise ValidationError({"iteration": [str(error)]}) from error
