"""Overlap leases on a live server (gunicorn, PostgreSQL): racing annotators, released together at a barrier,
never get an item more than `overlap_k` times, and an expired lease returns the item to the pool.

The item's pair is stored through the same service the sampling worker calls (with fixed texts), so this
module runs no worker; tests/e2e/test_dashboard_numbers.py samples overlap pairs with a real one.
"""

import multiprocessing

import pytest

from tests.e2e.lease_racers import lease_racer
from tests.e2e.stack import stack_running

pytestmark = pytest.mark.e2e
RACERS = 6
K = 3

WORLD = """
import json
from annotation.models import ModelVersion
from annotation.services.batches import batch_activate, batch_create
from annotation.services.quality import overlap_items_upload
from annotation.services.sampling import GeneratedSample, turn_samples_save, turn_sampling_begin
from annotation.services.users import user_create
admin = user_create(username="admin", password="e2e-passphrase", role="admin")
for n in range({racers}):
    user_create(username=f"racer{{n}}", password="e2e-passphrase", role="annotator")
ModelVersion.objects.create(name="lease-v1", kind="policy", path="/nowhere")
batch = batch_activate(batch=batch_create(name="leases", track="helpfulness", policy_versions=["lease-v1"],
    temperature_min=0.7, temperature_max=1.3, target_comparisons=20, overlap_fraction=0.5))
item, = overlap_items_upload(batch=batch, prompts=["Tell me about the sea."], created_by=admin)
job = turn_sampling_begin(turn_id=item.source_turn_id)
turn_samples_save(turn_id=item.source_turn_id, variants=job.variants, samples=[
    GeneratedSample(label=v.label, text=f"The sea, version {{v.label}}.", prompt_tokens=5, completion_tokens=4,
                    seconds=0.1) for v in job.variants])
print(json.dumps({{"batch": batch.pk, "item": item.pk, "k": batch.overlap_k}}))
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A live web server on a fresh database; no Celery worker (nothing here samples)."""
    # Its own Redis database: the upload queues a sampling task that no worker of another run may take.
    workdir = tmp_path_factory.mktemp("stack")
    with stack_running(workdir, worker=False, worker_env={"REDIS_URL": "redis://127.0.0.1:6379/10"}) as running:
        yield running


def test_concurrent_leases_respect_k_and_an_expired_lease_returns_the_item(stack):
    world = stack.manage("shell", "-c", WORLD.format(racers=RACERS))
    assert world["k"] == K  # the default
    item_id = world["item"]

    # given six annotators released together at a barrier
    clients = {f"racer{n}": stack.client(f"racer{n}", "e2e-passphrase") for n in range(RACERS)}
    tokens = {c.session.headers["Authorization"].split()[1]: name for name, c in clients.items()}
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(RACERS), context.Queue()
    racers = [
        context.Process(target=lease_racer, args=(stack.url, token, "helpfulness", barrier, results))
        for token in tokens
    ]
    for racer in racers:
        racer.start()
    answers = [results.get(timeout=120) for _ in racers]
    for racer in racers:
        racer.join(30)

    # then exactly k of them get the item, each as a turn of their own, and the rest get 204
    assert sorted(code for _, code, _ in answers) == [201] * K + [204] * (RACERS - K)
    live = stack.sql(
        "SELECT slot, turn_id FROM annotation_overlapassignment WHERE item_id = %s "
        "AND expired_at IS NULL ORDER BY slot",
        item_id,
    )
    assert [slot for slot, _ in live] == list(range(K))
    winners = [tokens[token] for token, code, _ in answers if code == 201]
    losers = [tokens[token] for token, code, _ in answers if code == 204]
    winner_turns = {tokens[token]: turn for token, code, turn in answers if code == 201}
    owners = stack.sql(
        "SELECT t.id, u.username FROM annotation_turn t JOIN annotation_dialogue d ON d.id = "
        "t.dialogue_id JOIN auth_user u ON u.id = d.annotator_id WHERE t.id = ANY(%s)",
        list(winner_turns.values()),
    )
    assert {turn: name for turn, name in owners} == {turn: name for name, turn in winner_turns.items()}
    texts = {
        name: sorted(r["text"] for r in clients[name].get(f"/api/turns/{turn}/").json()["responses"])
        for name, turn in winner_turns.items()
    }
    assert len({tuple(t) for t in texts.values()}) == 1  # the same pair for everyone

    # an answered lease stays; an unanswered one that runs out returns the item to the pool
    answered, lapsed = winners[0], winners[1]
    assert (
        clients[answered]
        .post(
            f"/api/turns/{winner_turns[answered]}/comparison/",
            {"chosen": "a", "strength": "better", "time_spent_ms": 3000},
        )
        .status_code
        == 201
    )
    stack.sql(
        "UPDATE annotation_overlapassignment SET expires_at = now() - interval '1 second' "
        "WHERE turn_id = ANY(%s) RETURNING id",
        [winner_turns[answered], winner_turns[lapsed]],
    )
    retry = clients[losers[0]].post("/api/overlap/next/", {"track": "helpfulness"})
    assert retry.status_code == 201 and retry.json()["prompt"] == "Tell me about the sea."
    assert clients[losers[1]].post("/api/overlap/next/", {"track": "helpfulness"}).status_code == 204
    late = clients[lapsed].get(f"/api/turns/{winner_turns[lapsed]}/").json()
    assert late["status"] == "failed" and "expired" in late["error"]
    refused = clients[lapsed].post(
        f"/api/turns/{winner_turns[lapsed]}/comparison/", {"chosen": "b", "strength": "better", "time_spent_ms": 3000}
    )
    assert refused.status_code == 409
    assert stack.sql(
        "SELECT count(*) FROM annotation_overlapassignment WHERE item_id = %s AND expired_at IS NULL", item_id
    ) == [(K,)]
