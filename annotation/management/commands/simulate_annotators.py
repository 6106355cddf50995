"""simulate_annotators: scripted annotators that drive the real REST API concurrently over HTTP."""

import threading

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from annotation.management.base import JsonCommand, progress
from annotation.models import Role, Track
from annotation.services.users import user_create
from annotation.simulation.annotator import profiles_load
from annotation.simulation.runner import SimulationConfig, prompts_load, simulation_run


class Command(JsonCommand):
    help = (
        "Log in as N simulated annotators and drive the REST API at --url concurrently (one thread each): "
        "each writes prompts from a prompt file (or takes overlap items when due), judges the two responses "
        "with the frozen oracle (annotation/simulation/oracle.py) through its --profile, and submits M comparisons. "
        "Accounts PREFIX-1..PREFIX-N (or the profile's names) are created in this command's database if missing, "
        "so --url must serve that same database; against another server, create them there first."
    )

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, required=True, help="number of simulated annotators")
        parser.add_argument("--comparisons", type=int, required=True, help="comparisons per annotator")
        parser.add_argument("--track", required=True, choices=Track.values)
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the server to drive")
        parser.add_argument("--profile", help="JSON: per-annotator noise, position bias and speed")
        parser.add_argument("--prompts", help="prompt file, one a line (default: the shipped prompts.txt)")
        parser.add_argument("--username-prefix", default="sim")
        parser.add_argument("--password", default="sim-password")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--turns-per-dialogue", type=int, default=3)
        parser.add_argument("--turn-timeout", type=float, default=300.0, help="seconds to wait for sampling")
        parser.add_argument("--no-create", action="store_true", help="do not create missing accounts")

    def run(
        self,
        *,
        users,
        comparisons,
        track,
        url,
        profile,
        prompts,
        username_prefix,
        password,
        seed,
        turns_per_dialogue,
        turn_timeout,
        no_create,
        **_,
    ):
        errors = {}
        if users < 1:
            errors["users"] = ["must be at least 1"]
        if comparisons < 1:
            errors["comparisons"] = ["must be at least 1"]
        if turns_per_dialogue < 1:
            errors["turns_per_dialogue"] = ["must be at least 1"]
        if errors:
            raise ValidationError(errors)
        try:
            profiles = profiles_load(profile, users=users)
            prompt_list = prompts_load(prompts)
        except (ValueError, OSError) as error:
            raise ValidationError({"profile" if "profile" in str(error) else "prompts": [str(error)]}) from error
        accounts = [(p.name or f"{username_prefix}-{i + 1}", password) for i, p in enumerate(profiles)]
        created = [] if no_create else self._accounts_ensure(accounts)
        config = SimulationConfig(
            url=url,
            track=track,
            comparisons=comparisons,
            prompts=prompt_list,
            seed=seed,
            turns_per_dialogue=turns_per_dialogue,
            turn_timeout_s=turn_timeout,
        )
        lock = threading.Lock()
        with progress(total=users * comparisons, desc="comparisons", unit="cmp") as bar:

            def tick():
                with lock:
                    bar.update(1)

            result = simulation_run(config=config, accounts=accounts, profiles=profiles, tick=tick)
        result["created_users"] = created
        if result["errors"]:
            first = next(e for a in result["annotators"] for e in a["errors"])
            self.stderr.write(f"{result['errors']} annotator(s) stopped early; first: {first}")
        return result

    @staticmethod
    def _accounts_ensure(accounts: list[tuple[str, str]]) -> list[str]:
        User = get_user_model()
        created = []
        for username, password in accounts:
            if not User.objects.filter(username=username).exists():
                user_create(username=username, password=password, role=Role.ANNOTATOR)
                created.append(username)
        return created
