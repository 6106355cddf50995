from django.conf import settings
from django.core.exceptions import ValidationError

from annotation.management.base import JsonCommand
from annotation.selectors.model_versions import model_path_resolve, model_version_current
from annotation.services.promotion import policy_compare
from annotation.simulation.oracle import oracle_score
from reward_training.evaluation.policy_eval import win_rate_fields


class Command(JsonCommand):
    help = (
        "Win rate of one policy over another on held-out prompts (paper Fig. 11), judged by the RMs' combined "
        "reward and by the simulation oracle, with 95% intervals, over all prompts and over the safety and the "
        'helpfulness prompts apart (JSONL\'s "safety" flag); ties count one half.'
    )

    def add_arguments(self, parser):
        parser.add_argument("--policy", required=True)
        parser.add_argument("--baseline", required=True)
        parser.add_argument(
            "--prompts",
            default=str(settings.HELDOUT_PROMPTS),
            help="JSONL with a safety flag per prompt, or plain text (default: the held-out set)",
        )
        parser.add_argument("--helpfulness-rm", help="default: the current helpfulness RM")
        parser.add_argument("--safety-rm", help="default: the current safety RM")
        parser.add_argument("--limit", type=int, help="use the first N prompts")
        parser.add_argument("--max-new-tokens", type=int, default=64)
        parser.add_argument("--seed", type=int, default=0)

    def run(self, *, policy, baseline, prompts, helpfulness_rm, safety_rm, limit, max_new_tokens, seed, **_):
        policy_path, _ = model_path_resolve(policy, field="policy")
        baseline_path, _ = model_path_resolve(baseline, field="baseline")
        rms = {}
        for track, given in (("helpfulness", helpfulness_rm), ("safety", safety_rm)):
            if given:
                rms[track] = model_path_resolve(given, field=f"{track}_rm")[0]
            elif (current := model_version_current(kind="reward", track=track)) is not None:
                rms[track] = current.path
            else:
                raise ValidationError({f"{track}_rm": [f"no current {track} reward model; name one"]})
        try:
            result = policy_compare(
                new_path=policy_path,
                old_path=baseline_path,
                helpfulness_rm=rms["helpfulness"],
                safety_rm=rms["safety"],
                prompts_file=prompts,
                limit=limit,
                max_new_tokens=max_new_tokens,
                seed=seed,
                judges={"oracle": oracle_score},
            )
        except (ValueError, OSError) as error:
            raise ValidationError({"prompts": [str(error)]}) from error
        rm, oracle = result["rm"], result["oracle"]
        return {
            "policy": policy,
            "baseline": baseline,
            "n": rm.n,
            "n_safety": result["safety_prompts"],
            **win_rate_fields(result["by_kind"]),
            "rm": rm.as_dict(),
            "oracle": oracle.as_dict(),
        }
