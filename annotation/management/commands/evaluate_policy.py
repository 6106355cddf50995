from django.core.exceptions import ValidationError

from annotation.management.base import JsonCommand
from annotation.selectors.model_versions import model_path_resolve, model_version_current
from reward_training.data.prompts import prompts_read
from reward_training.evaluation.policy_eval import judged_win_rate, policy_responses
from reward_training.policy.rejection_sampling import combined_scores
from reward_training.reward.scorer import RewardScorer


def rm_judge(helpfulness_path: str, safety_path: str):
    helpfulness, safety = RewardScorer(helpfulness_path), RewardScorer(safety_path)
    return lambda prompts, responses: combined_scores(helpfulness, safety, list(prompts), list(responses))[
        "combined"].tolist()


class Command(JsonCommand):
    help = "RM-judged win rate of one policy over another on held-out prompts (paper Fig. 11), with 95% intervals."

    def add_arguments(self, parser):
        parser.add_argument("--policy", required=True)
        parser.add_argument("--baseline", required=True)
        parser.add_argument("--prompts", required=True)
        parser.add_argument("--helpfulness-rm", help="default: the current helpfulness RM")
        parser.add_argument("--safety-rm", help="default: the current safety RM")
        parser.add_argument("--temperature", type=float, default=0.7)
        parser.add_argument("--max-new-tokens", type=int, default=128)
        parser.add_argument("--seed", type=int, default=0)

    def run(self, *, policy, baseline, prompts, helpfulness_rm, safety_rm, temperature, max_new_tokens, seed, **_):
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
            items = prompts_read(prompts)
        except (ValueError, OSError) as error:
            raise ValidationError({"prompts": [str(error)]}) from error
        sampling = dict(temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
        new = policy_responses(policy_path, items, **sampling)
        old = policy_responses(baseline_path, items, **sampling)
        result = judged_win_rate(items, new, old, rm_judge(rms["helpfulness"], rms["safety"]))
        return {"policy": policy, "baseline": baseline, "n": result.n, "rm_win_rate": result.rate,
                "rm_win_rate_ci95": [result.low, result.high], "rm": result.as_dict()}
