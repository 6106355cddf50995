"""Overlap items and leases, gold answers, agreement in the batch figures, review and trust (issue 6)."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.errors import Conflict
from annotation.models import Batch, Comparison, OverlapAssignment, OverlapItem, Turn
from annotation.selectors.stats import batch_stats
from annotation.services.quality import overlap_due, overlap_lease_next, overlap_leases_expire
from annotation.tests.factories import (
    AdminFactory,
    BatchFactory,
    DialogueFactory,
    UserFactory,
    active_batch,
    annotate,
    client_for,
    ready_turn,
)

pytestmark = pytest.mark.django_db


def overlap_item(batch: Batch, *, prompt: str = "shared prompt", gold: str | None = None) -> OverlapItem:
    """An overlap item whose pair is already sampled (source texts "reply a to …" / "reply b to …")."""
    source = ready_turn(dialogue=DialogueFactory(batch=batch, annotator=AdminFactory()), index=0, prompt=prompt)
    return OverlapItem.objects.create(batch=batch, prompt=prompt, source_turn=source, gold_label=gold)


def texts(turn: Turn) -> dict[str, str]:
    return {s.label: s.text for s in turn.samples.all()}


def answer_item(item: OverlapItem, annotator, *, picks_source: str, strength: str = "better", **kwargs):
    """Lease the item to `annotator` and choose the sample labelled `picks_source` on the item's source turn."""
    turn = overlap_lease_next(annotator=annotator, track=item.batch.track)
    assert turn is not None and turn.overlap_assignment.item == item
    wanted = texts(item.source_turn)[picks_source]
    chosen = next(label for label, text in texts(turn).items() if text == wanted)
    return annotate(turn, chosen=chosen, strength=strength, **kwargs)


def test_upload_api_creates_items_with_a_sampling_source_turn():
    batch = active_batch()
    admin = client_for(AdminFactory())
    answer = admin.post(f"/api/batches/{batch.pk}/overlap-items/", {"prompts": ["one?", "  ", "two?"]}, format="json")
    assert answer.status_code == 400  # blank prompt
    answer = admin.post(f"/api/batches/{batch.pk}/overlap-items/", {"prompts": ["one?", "two?"]}, format="json")
    assert answer.status_code == 201, answer.content
    assert [i["prompt"] for i in answer.json()] == ["one?", "two?"] and answer.json()[0]["status"] == "sampling"
    item = OverlapItem.objects.get(prompt="one?")
    assert item.source_turn.status == Turn.Status.SAMPLING and item.source_turn.dialogue.batch == batch
    owner = item.source_turn.dialogue.annotator  # not the uploader: nobody sees source turns in the app
    assert owner.username == "_overlap_items" and not owner.has_usable_password() and not owner.is_active
    assert item.created_by.is_staff
    assert (
        client_for(UserFactory())
        .post(f"/api/batches/{batch.pk}/overlap-items/", {"prompts": ["x"]}, format="json")
        .status_code
        == 403
    )


def test_lease_gives_each_annotator_their_own_turn_with_the_same_pair_up_to_k():
    batch = active_batch()
    Batch.objects.filter(pk=batch.pk).update(overlap_k=2)
    item = overlap_item(batch)
    first, second, third = UserFactory(), UserFactory(), UserFactory()
    swaps = set()
    for annotator in (first, second):
        turn = overlap_lease_next(annotator=annotator, track="helpfulness", rng=random.Random(len(swaps)))
        assert turn.dialogue.annotator == annotator and turn.status == Turn.Status.READY
        assert turn.prompt == item.prompt and set(texts(turn).values()) == set(texts(item.source_turn).values())
        assignment = turn.overlap_assignment
        expected = texts(item.source_turn)
        if assignment.swapped:
            expected = {"a": expected["b"], "b": expected["a"]}
        assert texts(turn) == expected
        swaps.add(assignment.swapped)
    assert overlap_lease_next(annotator=third, track="helpfulness") is None  # k reached
    assert overlap_lease_next(annotator=first, track="helpfulness") is None  # never the same item twice
    assert OverlapAssignment.objects.filter(item=item).count() == 2


def test_an_expired_lease_returns_the_item_and_the_late_answer_is_refused():
    batch = active_batch()
    Batch.objects.filter(pk=batch.pk).update(overlap_k=1)
    item = overlap_item(batch)
    late, next_one = UserFactory(), UserFactory()
    turn = overlap_lease_next(annotator=late, track="helpfulness")
    assert overlap_lease_next(annotator=next_one, track="helpfulness") is None
    OverlapAssignment.objects.filter(turn=turn).update(expires_at=timezone.now() - timedelta(seconds=1))
    again = overlap_lease_next(annotator=next_one, track="helpfulness")
    assert again is not None and again.overlap_assignment.item == item
    turn.refresh_from_db()
    assert turn.status == Turn.Status.FAILED and "expired" in turn.error
    with pytest.raises(Conflict):
        annotate(turn)
    assert not turn.samples.exists()  # a retry samples an ordinary pair for the prompt
    assert OverlapAssignment.objects.get(turn=turn).expired_at is not None


def test_an_answered_lease_never_expires():
    batch = active_batch()
    item = overlap_item(batch)
    comparison = answer_item(item, UserFactory(), picks_source="a")
    OverlapAssignment.objects.update(expires_at=timezone.now() - timedelta(hours=1))
    assert overlap_leases_expire() == 0
    assert OverlapAssignment.objects.get(turn=comparison.turn).expired_at is None


def test_next_api_answers_201_then_204_and_409_without_a_batch():
    batch = active_batch()
    overlap_item(batch)
    client = client_for(UserFactory())
    answer = client.post("/api/overlap/next/", {"track": "helpfulness"}, format="json")
    assert answer.status_code == 201 and answer.json()["status"] == "ready"
    assert [r["label"] for r in answer.json()["responses"]] == ["a", "b"] and "model" not in str(answer.json())
    assert client.get(f"/api/turns/{answer.json()['id']}/").status_code == 200
    assert client.post("/api/overlap/next/", {"track": "helpfulness"}, format="json").status_code == 204
    assert client.post("/api/overlap/next/", {"track": "safety"}, format="json").status_code == 409


def test_overlap_is_due_at_the_batch_fraction():
    batch = active_batch()
    Batch.objects.filter(pk=batch.pk).update(overlap_fraction=0.5)
    batch.refresh_from_db()
    annotator = UserFactory()
    for n in range(3):
        overlap_item(batch, prompt=f"item {n}")
    dialogue = DialogueFactory(batch=batch, annotator=annotator)
    pattern = []
    for n in range(6):
        due = overlap_due(annotator=annotator, batch=batch)
        pattern.append(due)
        if due:
            annotate(overlap_lease_next(annotator=annotator, track="helpfulness"))
        else:
            annotate(ready_turn(dialogue=dialogue, index=n))
    assert pattern == [False, True, False, True, False, True]
    Batch.objects.filter(pk=batch.pk).update(overlap_fraction=0)
    batch.refresh_from_db()
    assert overlap_due(annotator=annotator, batch=batch) is False


def test_batch_agreement_is_on_the_sample_not_the_position():
    """Three annotators, two items. By hand: item 1 all pick source 'a' (3 agreeing pairs of 3); item 2 two
    pick 'b', one 'a' (1 of 3). P̄ = (1 + 1/3)/2 = 2/3; 'a' 4 of 6 ratings: P̄e = (2/3)² + (1/3)² = 5/9;
    κ = (2/3 - 5/9)/(4/9) = 1/4."""
    batch = active_batch()
    one, two = overlap_item(batch, prompt="p1"), overlap_item(batch, prompt="p2")
    ann, bob, cy = UserFactory(), UserFactory(), UserFactory()
    for annotator in (ann, bob, cy):
        answer_item(one, annotator, picks_source="a")
    answer_item(two, ann, picks_source="b")
    answer_item(two, bob, picks_source="b")
    answer_item(two, cy, picks_source="a")
    stats = batch_stats(batch=batch)
    agreement = stats["agreement"]
    assert agreement["items"] == 2 and agreement["ratings"] == 6
    assert agreement["percent_agreement"] == pytest.approx(2 / 3)
    assert agreement["fleiss_kappa"] == pytest.approx(0.25)
    pairs = {frozenset((p["a"], p["b"])): p for p in agreement["pairs"]}
    assert pairs[frozenset((ann.profile.pseudonym, bob.profile.pseudonym))]["agreement"] == 1.0
    assert pairs[frozenset((ann.profile.pseudonym, cy.profile.pseudonym))]["agreement"] == 0.5
    by_name = {a["username"]: a for a in stats["annotators"]}
    assert by_name[cy.username]["agreement_with_others"] == pytest.approx(2 / 4)
    assert by_name[ann.username]["agreement_with_others"] == pytest.approx(3 / 4)


def test_gold_accuracy_per_annotator():
    batch = active_batch()
    admin = client_for(AdminFactory())
    items = [overlap_item(batch, prompt=f"gold {n}") for n in range(2)]
    for item in items:
        answer = admin.post(f"/api/overlap-items/{item.pk}/gold/", {"gold_label": "b"}, format="json")
        assert answer.status_code == 200 and answer.json()["gold_label"] == "b"
    good, sloppy = UserFactory(), UserFactory()
    for item in items:
        answer_item(item, good, picks_source="b")
    answer_item(items[0], sloppy, picks_source="a")
    answer_item(items[1], sloppy, picks_source="b")
    by_name = {a["username"]: a for a in batch_stats(batch=batch)["annotators"]}
    assert by_name[good.username]["gold_accuracy"] == 1.0 and by_name[good.username]["gold_items"] == 2
    assert by_name[sloppy.username]["gold_accuracy"] == 0.5
    queue = admin.get(f"/api/batches/{batch.pk}/review/").json()
    assert "gold_miss" in next(
        i["flags"] for i in queue["items"] if i["username"] == sloppy.username and "gold_miss" in i["flags"]
    )


def test_batch_figures_biases_time_and_previous_batch():
    previous = BatchFactory(status=Batch.Status.CLOSED)
    annotate(ready_turn(dialogue=DialogueFactory(batch=previous)), chosen="b")
    batch = active_batch()
    annotator = UserFactory()
    dialogue = DialogueFactory(batch=batch, annotator=annotator)
    # samples: "reply a to prompt N" and "reply b to prompt N" have equal length; make b longer on turn 0
    choices = [
        ("a", "negligibly_better", 1000),
        ("a", "better", 3000),
        ("b", "slightly_better", 5000),
        ("a", "negligibly_better", 9000),
    ]
    for index, (chosen, strength, ms) in enumerate(choices):
        turn = ready_turn(dialogue=dialogue, index=index)
        if index == 0:
            turn.samples.filter(label="b").update(text="a much longer reply b than a")
        annotate(turn, chosen=chosen, strength=strength, time_spent_ms=ms)
    stats = batch_stats(batch=batch)
    assert stats["comparisons"] == 4 and stats["strength_distribution"]["negligibly_better"] == 2
    assert stats["tie_rate"] == 0.5 and stats["position_bias"]["a_rate"] == 0.75
    assert stats["position_bias"]["z"] == pytest.approx(1.0)  # (3 - 4/2) / sqrt(4/4)
    assert stats["median_time_ms"] == 4000
    assert stats["length_bias"] == {"longer_wins_rate": 0.0, "longer": 0, "shorter": 1}
    assert stats["previous"]["batch"] == previous.name and stats["previous"]["comparisons"] == 1
    assert stats["previous"]["position_bias"]["a_rate"] == 0.0
    assert stats["annotators"][0]["comparisons"] == 4 and stats["annotators"][0]["a_rate"] == 0.75
    assert stats["paper_safety_bin_shares"] == {
        "chosen_safe_other_unsafe": 0.18,
        "both_safe": 0.47,
        "both_unsafe": 0.35,
    }


def test_review_queue_puts_flagged_first_and_review_decides_the_export():
    batch = active_batch("safety")
    Batch.objects.filter(pk=batch.pk).update(export_policy="approved")
    admin = client_for(AdminFactory())
    calm = annotate(ready_turn(dialogue=DialogueFactory(batch=batch)), a_safe=True, b_safe=True, time_spent_ms=20000)
    fast = annotate(ready_turn(dialogue=DialogueFactory(batch=batch)), a_safe=True, b_safe=True, time_spent_ms=200)
    unsafe = annotate(
        ready_turn(dialogue=DialogueFactory(batch=batch)), chosen="a", a_safe=False, b_safe=True, time_spent_ms=20000
    )
    other = annotate(ready_turn(dialogue=DialogueFactory(batch=batch)), a_safe=True, b_safe=False, time_spent_ms=15000)
    queue = admin.get(f"/api/batches/{batch.pk}/review/").json()
    assert [i["id"] for i in queue["items"]] == [unsafe.pk, fast.pk, calm.pk, other.pk]
    assert queue["items"][0]["flags"] == ["unsafe_chosen"] and queue["items"][1]["flags"] == ["fast"]

    def exported() -> set[int]:
        lines = admin.get(f"/api/batches/{batch.pk}/export/?format=trl").getvalue().decode().splitlines()
        import json

        return {json.loads(line)["comparison_id"] for line in lines}

    assert exported() == set()  # "approved": nothing approved yet
    answer = admin.post(
        "/api/comparisons/review/", {"comparisons": [calm.pk, unsafe.pk], "status": "approved"}, format="json"
    )
    assert answer.status_code == 200 and answer.json() == {"updated": 2}
    assert exported() == {calm.pk}  # chosen-unsafe never exports, approved or not
    Batch.objects.filter(pk=batch.pk).update(export_policy="approved_or_trusted")
    trust = admin.post(f"/api/annotators/{other.annotator_id}/trust/", {"trusted": True}, format="json")
    assert trust.status_code == 200 and trust.json()["trusted"] is True
    assert exported() == {calm.pk, other.pk}
    Batch.objects.filter(pk=batch.pk).update(export_policy="all")
    admin.post("/api/comparisons/review/", {"comparisons": [fast.pk], "status": "rejected"}, format="json")
    assert exported() == {calm.pk, other.pk}
    assert Comparison.objects.get(pk=fast.pk).review_status == "rejected"
    assert (
        client_for(UserFactory())
        .post("/api/comparisons/review/", {"comparisons": [calm.pk], "status": "rejected"}, format="json")
        .status_code
        == 403
    )


def test_annotator_stats_api_has_drift_and_per_batch_figures():
    batch = active_batch()
    annotator = UserFactory()
    dialogue = DialogueFactory(batch=batch, annotator=annotator)
    for index in range(12):
        annotate(ready_turn(dialogue=dialogue, index=index), chosen="a" if index < 6 else "b")
    stats = client_for(AdminFactory()).get(f"/api/annotators/{annotator.pk}/stats/").json()
    assert stats["comparisons"] == 12 and stats["position_bias"]["a_rate"] == 0.5
    assert stats["batches"][0]["batch"] == batch.name
    assert stats["drift"][0]["a_rate"] == 1.0 and stats["drift"][-1]["a_rate"] == 0.0
