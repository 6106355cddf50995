"""The dashboard's numbers against a batch filled by `simulate_annotators` over the real API.

Three simulated annotators: one always picks A, one follows the oracle, one disagrees with it 40% of
the time. The test recomputes agreement, Fleiss' κ, Cohen's κ per pair and the position bias from
the raw database rows (samples matched by their text, not the platform's bookkeeping), with its own
arithmetic, and compares them with GET /api/batches/{id}/stats/ and the staff dashboard page.
"""

import json
import re
import time
from collections import Counter
from itertools import combinations

import pytest

from annotation.simulation.oracle import oracle_judge
from tests.e2e.conftest import foreign_model_dir
from tests.e2e.stack import stack_running

pytestmark = pytest.mark.e2e
USERS, PER_USER, ITEMS = 3, 4, 3
OVERLAP_FRACTION = 0.75  # each annotator: own prompt, then three overlap items (the due rule keeps 3 in 4)
PROFILE = {
    "default": {"time_spent_ms": 6000},
    "annotators": [
        {"name": "always-a", "position_bias": 1.0, "time_spent_ms": 2000},
        {"name": "faithful"},
        {"name": "noisy", "noise": 0.4},
    ],
}


# A Redis database of this module's own: a stack of another test run on the shared database 14 would
# otherwise take this stack's sampling tasks (and its beat would sweep them), and the other way round.
REDIS_URL = "redis://127.0.0.1:6379/11"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Web + one real Celery worker on a fresh database and a Redis database of their own."""
    with stack_running(tmp_path_factory.mktemp("stack"), worker_env={"REDIS_URL": REDIS_URL}) as running:
        yield running


def own_fleiss(items: list[list[str]]) -> tuple[float, float]:
    """(mean pairwise agreement, Fleiss' κ) written out independently of annotation.selectors."""
    shares = []
    for votes in items:
        n = len(votes)
        shares.append(sum(c * (c - 1) for c in Counter(votes).values()) / (n * (n - 1)))
    observed = sum(shares) / len(shares)
    flat = [v for votes in items for v in votes]
    chance = sum((flat.count(label) / len(flat)) ** 2 for label in set(flat))
    return observed, (observed - chance) / (1 - chance) if chance < 1 else None


def own_cohen(pairs: list[tuple[str, str]]) -> float | None:
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    chance = sum(sum(a == label for a, _ in pairs) * sum(b == label for _, b in pairs) for label in ("x", "y")) / n**2
    return (observed - chance) / (1 - chance) if chance < 1 else None


def test_dashboard_numbers_match_the_raw_rows(stack, tmp_path):
    model = foreign_model_dir(tmp_path / "v1", seed=11)
    stack.manage(
        "shell",
        "-c",
        "from annotation.services.users import user_create\n"
        "from annotation.services.model_versions import model_version_register\n"
        "user_create(username='boss', password='e2e-passphrase', role='admin')\n"
        f"model_version_register(name='sim-v1', kind='policy', path={str(model)!r}, current=True)",
        json_result=False,
    )
    admin = stack.client("boss", "e2e-passphrase")
    created = admin.post(
        "/api/batches/",
        {
            "name": "sim-week",
            "track": "helpfulness",
            "policy_versions": ["sim-v1"],
            "temperature_min": 0.8,
            "temperature_max": 1.3,
            "max_new_tokens": 8,
            "target_comparisons": USERS * PER_USER,
            "overlap_fraction": OVERLAP_FRACTION,
        },
    )
    batch_id = created.json()["id"]
    assert admin.post(f"/api/batches/{batch_id}/activate/").status_code == 200
    prompts = [f"Overlap question number {n}?" for n in range(ITEMS)]
    assert admin.post(f"/api/batches/{batch_id}/overlap-items/", {"prompts": prompts}).status_code == 201
    deadline = time.time() + 180
    while {i["status"] for i in admin.get(f"/api/batches/{batch_id}/overlap-items/").json()} != {"ready"}:
        assert time.time() < deadline, "overlap pairs were never sampled"
        time.sleep(0.3)

    # when three simulated annotators fill the batch through the real API
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps(PROFILE))
    run = stack.annotators_simulate(users=USERS, comparisons=PER_USER, options=("--profile", str(profile)))
    assert run["errors"] == 0 and run["comparisons"] == USERS * PER_USER, run
    assert run["overlap_comparisons"] == USERS * ITEMS  # 3 of 4 each, and k = 3 fits every annotator on every item

    # then the figures recomputed from raw rows...
    comparisons = stack.sql(
        "SELECT u.username, c.chosen, t.id FROM annotation_comparison c JOIN annotation_turn t ON t.id = c.turn_id "
        "JOIN annotation_dialogue d ON d.id = t.dialogue_id JOIN auth_user u ON u.id = c.annotator_id "
        "WHERE d.batch_id = %s",
        batch_id,
    )
    assert len(comparisons) == USERS * PER_USER
    a_rate = {
        name: sum(c == "a" for n, c, _ in comparisons if n == name) / PER_USER
        for name in ("always-a", "faithful", "noisy")
    }
    assert a_rate["always-a"] == 1.0
    # each overlap judgement: the chosen text, and the source pair of the item it came from (matched by prompt)
    sources = dict(
        stack.sql(
            "SELECT t.prompt, array_agg(s.text ORDER BY s.label) FROM annotation_overlapitem i "
            "JOIN annotation_turn t ON t.id = i.source_turn_id JOIN annotation_sample s ON s.turn_id = t.id "
            "WHERE i.batch_id = %s GROUP BY t.prompt",
            batch_id,
        )
    )
    assert sorted(sources) == sorted(prompts)
    judged = stack.sql(
        "SELECT t.prompt, u.username, s.text FROM annotation_comparison c JOIN annotation_turn t ON t.id = c.turn_id "
        "JOIN annotation_dialogue d ON d.id = t.dialogue_id JOIN auth_user u ON u.id = c.annotator_id "
        "JOIN annotation_sample s ON s.turn_id = t.id AND s.label = c.chosen WHERE d.batch_id = %s AND "
        "t.prompt = ANY(%s)",
        batch_id,
        prompts,
    )
    votes: dict[str, dict[str, str]] = {}
    for prompt, name, text in judged:
        first, second = sources[prompt]
        assert text in (first, second)
        votes.setdefault(prompt, {})[name] = "x" if text == first else "y"
    assert all(len(v) == USERS for v in votes.values()) and len(votes) == ITEMS
    for prompt, by_name in votes.items():  # the oracle-faithful annotator agrees with the oracle on every item
        first, second = sources[prompt]
        assert by_name["faithful"] == ("x" if oracle_judge(first, second, prompt=prompt).chosen == "a" else "y")
    agreement, kappa = own_fleiss([list(v.values()) for v in votes.values()])
    pair_kappas = {
        (a, b): own_cohen([(votes[p][a], votes[p][b]) for p in votes])
        for a, b in combinations(sorted(["always-a", "faithful", "noisy"]), 2)
    }

    # ...equal the API's figures
    stats = admin.get(f"/api/batches/{batch_id}/stats/").json()
    assert stats["comparisons"] == USERS * PER_USER
    assert stats["agreement"]["items"] == ITEMS and stats["agreement"]["ratings"] == USERS * ITEMS
    assert stats["agreement"]["percent_agreement"] == pytest.approx(agreement)
    if kappa is None:
        assert stats["agreement"]["fleiss_kappa"] is None
    else:
        assert stats["agreement"]["fleiss_kappa"] == pytest.approx(kappa)
    by_name = {a["username"]: a for a in stats["annotators"]}
    for name, rate in a_rate.items():
        assert by_name[name]["a_rate"] == pytest.approx(rate)
        assert by_name[name]["comparisons"] == PER_USER
    assert stats["position_bias"]["a_rate"] == pytest.approx(
        sum(c == "a" for _, c, _ in comparisons) / len(comparisons)
    )
    pseudonym = {a["annotator"]: a["username"] for a in stats["annotators"]}
    for row in stats["agreement"]["pairs"]:
        key = tuple(sorted((pseudonym[row["a"]], pseudonym[row["b"]])))
        expected = pair_kappas[key]
        assert row["kappa"] == (None if expected is None else pytest.approx(expected)), key
    assert len(stats["agreement"]["pairs"]) == 3
    assert by_name["always-a"]["median_time_ms"] < by_name["faithful"]["median_time_ms"]

    # ...and the staff dashboard page shows the same numbers
    page = stack.staff_session("boss", "e2e-passphrase").get(f"{stack.url}/dashboard/batches/{batch_id}/", timeout=60)
    assert page.status_code == 200
    shown = dict(re.findall(r'id="(a-rate|percent-agreement|fleiss-kappa)">([^<]*)<', page.text))
    assert float(shown["percent-agreement"]) == pytest.approx(agreement, abs=5e-4)  # shown to 3 decimals
    if kappa is None:
        assert shown["fleiss-kappa"] == "–"
    else:
        assert float(shown["fleiss-kappa"]) == pytest.approx(kappa, abs=5e-4)
    assert float(shown["a-rate"]) == pytest.approx(stats["position_bias"]["a_rate"], abs=5e-4)
