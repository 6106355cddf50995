"""Shared (overlap) items in the annotator pages: when they are offered, judging one, and when nothing is left."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from annotation.models import Batch, OverlapAssignment, OverlapItem, Sample, Turn
from annotation.selectors.overlap import overlap_judgements
from annotation.services.quality import overlap_lease_next, overlap_leases_expire, overlap_source_user
from annotation.tests.factories import BatchFactory, DialogueFactory, TurnFactory, UserFactory, annotate, ready_turn

pytestmark = pytest.mark.django_db

OFFER = "Judge a shared helpfulness item"


def logged_in(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/")  # sets the csrftoken cookie, as the page's script sends it
    return client


def post_json(client, url, body):
    return client.post(url, body, content_type="application/json", HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)


def post_form(client, url, data, **kwargs):
    return client.post(url, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value}, **kwargs)


def shared_item(batch: Batch, *, prompt: str = "Which city is the capital of Peru?") -> OverlapItem:
    """An admin's overlap item whose pair is sampled (texts "reply a to …" / "reply b to …")."""
    source = ready_turn(dialogue=DialogueFactory(batch=batch, annotator=overlap_source_user()), index=0, prompt=prompt)
    return OverlapItem.objects.create(batch=batch, prompt=prompt, source_turn=source)


def own_turn_judged(user, batch: Batch) -> Turn:
    turn = ready_turn(dialogue=DialogueFactory(annotator=user, batch=batch), index=0)
    annotate(turn)
    return turn


def test_a_shared_item_is_offered_when_due_and_judging_it_lands_on_the_lease():
    # given a batch where half of each annotator's turns should be shared items, and one item
    batch = BatchFactory(track="helpfulness", overlap_fraction=0.5)
    item = shared_item(batch, prompt="Which city is the capital of **Peru**?")
    user = UserFactory()
    client = logged_in(user)
    assert OFFER not in client.get("/").content.decode()  # nothing is due before any work of their own

    # when they have judged one turn of their own
    own = own_turn_judged(user, batch)

    # then the landing page and the finished dialogue's next step both offer the shared item
    landing = client.get("/").content.decode()
    assert OFFER in landing and 'data-testid="shared-offer-helpfulness"' in landing
    assert "Start a helpfulness dialogue" not in landing
    body = client.get(f"/dialogues/{own.dialogue_id}/body/").content.decode()
    assert "Judge a shared item <kbd>d</kbd>" in body and 'name="next" value="shared"' in body
    assert "Continue the dialogue" in body  # the dialogue in progress may still go on

    # when they start it with the form the page rendered
    opened = post_form(client, "/dialogues/new/", {"track": "helpfulness", "next": "shared"})
    assert opened.status_code == 302
    page = client.get(opened.url).content.decode()

    # then it is the item's prompt and pair, marked shared, with the usual comparison form
    assert "Helpfulness</span> shared item" in page and 'data-testid="shared-note"' in page
    assert "Which city is the capital of <strong>Peru</strong>?" in page and 'id="rating"' in page
    shown = re.findall(r'data-testid="response-[ab]"><p>(.*?)</p>', page)
    assert sorted(shown) == sorted(
        s.text.replace("**Peru**", "<strong>Peru</strong>") for s in item.source_turn.samples.all()
    )
    assert "Shared helpfulness item (ready)" in client.get("/").content.decode()  # waiting for them on the landing
    turn_id = int(re.search(r'data-state="ready" data-turn-id="(\d+)"', page).group(1))

    # when they judge it, as the page's script does
    answer = post_json(
        client,
        f"/api/turns/{turn_id}/comparison/",
        {"chosen": "b", "strength": "slightly_better", "time_spent_ms": 4200},
    )
    assert answer.status_code == 201, answer.content

    # then the comparison is on their lease of the item, and agreement reads it on the item's own labels
    assignment = OverlapAssignment.objects.get(item=item)
    assert assignment.annotator == user and assignment.turn_id == turn_id
    assert assignment.turn.comparison.chosen == "b" and assignment.turn.comparison.strength == "slightly_better"
    [judgement] = overlap_judgements(batch=batch)
    chosen_text = Sample.objects.get(turn_id=turn_id, label="b").text
    assert item.source_turn.samples.get(label=judgement.label).text == chosen_text

    # and the screen says it is done: no prompt box to continue a shared prompt, the next dialogue is their own
    done = client.get(f"/dialogues/{assignment.turn.dialogue_id}/body/").content.decode()
    assert 'data-state="finished"' in done and "Thank you for judging this shared item" in done
    assert 'id="prompt"' not in done and "New dialogue <kbd>d</kbd>" in done and 'name="next"' not in done
    assert OFFER not in client.get("/").content.decode()  # one in two of their turns is shared now


def test_with_no_shared_item_left_nothing_is_offered():
    # given a batch that wants a shared item at every turn, two judges per item
    batch = BatchFactory(track="helpfulness", overlap_fraction=1.0, overlap_k=2)
    taken = shared_item(batch, prompt="taken by two others")
    for other in (UserFactory(), UserFactory()):
        assert overlap_lease_next(annotator=other, track="helpfulness").overlap_assignment.item == taken
    sampling = OverlapItem.objects.create(
        batch=batch,
        prompt="still sampling",
        source_turn=TurnFactory(
            dialogue=DialogueFactory(batch=batch, annotator=overlap_source_user()), index=0, prompt="still sampling"
        ),
    )
    assert sampling.source_turn.status == Turn.Status.SAMPLING
    user = UserFactory()
    client = logged_in(user)

    # then neither the landing page nor the next step of a finished turn offers one
    landing = client.get("/").content.decode()
    assert "Start a helpfulness dialogue" in landing and OFFER not in landing and 'name="next"' not in landing
    own = own_turn_judged(user, batch)
    body = client.get(f"/dialogues/{own.dialogue_id}/body/").content.decode()
    assert "New dialogue <kbd>d</kbd>" in body and "Judge a shared item" not in body and 'name="next"' not in body

    # and a page still showing an earlier offer starts a dialogue of their own, and says why
    answer = post_form(client, "/dialogues/new/", {"track": "helpfulness", "next": "shared"}, follow=True)
    html = answer.content.decode()
    assert "The shared items were all taken just now; this dialogue is your own." in html
    assert 'id="prompt"' in html and "Helpfulness</span> dialogue" in html
    assert not OverlapAssignment.objects.filter(annotator=user).exists()


def test_a_shared_item_left_too_long_says_it_went_back_to_the_pool():
    batch = BatchFactory(track="helpfulness", overlap_fraction=1.0, overlap_lease_s=60)
    shared_item(batch)
    user = UserFactory()
    turn = overlap_lease_next(annotator=user, track="helpfulness")
    assert overlap_leases_expire(now=timezone.now() + timedelta(seconds=61)) == 1

    body = logged_in(user).get(f"/dialogues/{turn.dialogue_id}/body/").content.decode()
    assert 'data-state="failed"' in body and "Time ran out on this shared item." in body
    assert "Retry sampling" in body and "Sampling failed" not in body
