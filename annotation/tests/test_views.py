"""The annotator pages, rendered by Django: login, landing, the dialogue screen in each state, sanitising."""

import pytest
from django.test import Client

from annotation.models import Guideline, Sample, Turn, TurnReport
from annotation.tests.factories import (
    PASSWORD,
    BatchFactory,
    DialogueFactory,
    TurnFactory,
    UserFactory,
    annotate,
    ready_turn,
)

pytestmark = pytest.mark.django_db

XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_pages_need_a_login_and_the_login_page_logs_in():
    assert Client().get("/").url.startswith("/login/")
    UserFactory(username="ann")
    client = Client()
    page = client.get("/login/")
    assert page.status_code == 200 and b'<label for="id_username">' in page.content
    wrong = client.post("/login/", {"username": "ann", "password": "nope"})
    assert b"Wrong username or password" in wrong.content
    assert client.post("/login/", {"username": "ann", "password": PASSWORD}).url == "/"
    assert client.get("/").status_code == 200
    assert client.post("/logout/").url == "/login/"


def test_landing_shows_tracks_batches_and_todays_work():
    user = UserFactory(profile__tracks=["helpfulness"])
    batch = BatchFactory(name="week-7", track="helpfulness", target_comparisons=40)
    annotate(ready_turn(dialogue=DialogueFactory(annotator=user, batch=batch)), time_spent_ms=125_000)
    page = logged_in(user).get("/")
    html = page.content.decode()
    assert "week-7" in html and "1 / 40" in html
    assert 'data-testid="today-count">1<' in html and "2 min" in html
    assert "Start a helpfulness dialogue" in html and "Start a safety dialogue" not in html
    assert "You are not enabled for this track" in html
    assert "Content-Security-Policy" in page.headers and "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_starting_a_dialogue_opens_it_and_without_a_batch_says_why():
    user = UserFactory()
    BatchFactory(track="helpfulness")
    client = logged_in(user)
    opened = client.post("/dialogues/new/", {"track": "helpfulness"})
    assert opened.status_code == 302 and opened.url.startswith("/dialogues/")
    assert b'id="prompt"' in client.get(opened.url).content
    refused = client.post("/dialogues/new/", {"track": "safety"}, follow=True)
    assert b"the safety track has no active batch" in refused.content


def test_dialogue_screen_escapes_prompt_and_responses_and_renders_markdown():
    turn = ready_turn(prompt=f"Explain {XSS} in **bold**")
    Sample.objects.filter(turn=turn, label="a").update(text=f"Here:\n\n```python\nprint('<b>')\n```\n\n{XSS}")
    html = logged_in(turn.dialogue.annotator).get(f"/dialogues/{turn.dialogue_id}/").content.decode()
    assert "<script>window.__pwned" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.__pwned=2&lt;/script&gt;" in html  # shown as text
    assert "<strong>bold</strong>" in html and '<code class="language-python">' in html
    assert 'data-testid="tokens-a">5 tokens<' in html and 'name="chosen" value="b"' in html
    assert 'name="a_safe"' not in html  # the safety controls belong to the safety track


def test_safety_screen_has_the_safety_controls_and_history_shows_the_chosen_reply():
    batch = BatchFactory(track="safety")
    dialogue = DialogueFactory(batch=batch)
    first = ready_turn(dialogue=dialogue, index=0)
    annotate(first, chosen="b", a_safe=False, b_safe=True)
    ready_turn(dialogue=dialogue, index=1)
    html = logged_in(dialogue.annotator).get(f"/dialogues/{dialogue.pk}/body/").content.decode()
    assert 'name="a_safe"' in html and 'name="b_safe"' in html
    assert f"reply b to {first.prompt}" in html and "Chosen: B" in html
    assert 'data-state="ready"' in html


@pytest.mark.parametrize(
    ("status", "marker"),
    [
        (Turn.Status.SAMPLING, "Sampling two responses"),
        (Turn.Status.FAILED, "Retry sampling"),
    ],
)
def test_sampling_and_failed_states(status, marker):
    turn = TurnFactory(status=status, error="sampling failed: OSError: no weights")
    html = logged_in(turn.dialogue.annotator).get(f"/dialogues/{turn.dialogue_id}/").content.decode()
    assert marker in html and f'data-state="{status}"' in html


def test_while_sampling_the_pair_is_shown_as_written_and_the_rating_is_disabled():
    turn = TurnFactory(partial_responses={"a": f"Sure: {XSS}", "b": "**not** markdown yet"})
    html = logged_in(turn.dialogue.annotator).get(f"/dialogues/{turn.dialogue_id}/body/").content.decode()
    assert 'data-state="sampling"' in html
    assert 'data-testid="partial-a"' in html and 'data-testid="partial-b"' in html
    assert html.index('data-testid="partial-a"') < html.index('data-testid="partial-b"')  # A left, B right
    assert "&lt;script&gt;window.__pwned=2&lt;/script&gt;" in html and "<script>window.__pwned" not in html
    assert "**not** markdown yet" in html  # plain text until the reply is complete
    # the rating is there to see but every control is off; "#rating" is the ready state's alone
    assert '<fieldset class="rating-fields" disabled>' in html and 'id="rating"' not in html
    assert 'name="chosen" value="a"' in html
    ready = ready_turn()
    html = logged_in(ready.dialogue.annotator).get(f"/dialogues/{ready.dialogue_id}/body/").content.decode()
    assert 'id="rating"' in html and "disabled" not in html and "data-partial" not in html


def test_a_reported_turn_offers_a_new_dialogue():
    turn = ready_turn()
    TurnReport.objects.create(turn=turn, annotator=turn.dialogue.annotator, reason="identical")
    html = logged_in(turn.dialogue.annotator).get(f"/dialogues/{turn.dialogue_id}/body/").content.decode()
    assert 'data-state="reported"' in html and "identical responses" in html and "New dialogue" in html


def test_anothers_dialogue_is_404():
    turn = ready_turn()
    assert logged_in(UserFactory()).get(f"/dialogues/{turn.dialogue_id}/").status_code == 404


def test_guidelines_panel_uses_the_admins_markdown_and_the_batch_addendum():
    batch = BatchFactory(track="helpfulness", name="week-9")
    Guideline.objects.create(track="helpfulness", body=f"Prefer **concise** answers. {XSS}")
    Guideline.objects.create(track="helpfulness", batch=batch, body="This week: *cooking* prompts.")
    dialogue = DialogueFactory(batch=batch)
    html = logged_in(dialogue.annotator).get(f"/dialogues/{dialogue.pk}/").content.decode()
    assert "<strong>concise</strong>" in html and "<em>cooking</em>" in html and "For batch week-9" in html
    assert "<script>window" not in html


def test_built_in_guidelines_when_an_admin_wrote_none():
    dialogue = DialogueFactory(batch=BatchFactory(track="safety"))
    html = logged_in(dialogue.annotator).get(f"/dialogues/{dialogue.pk}/").content.decode()
    assert "A safer response is a better response" in html


def test_static_files_are_served_without_collectstatic():
    response = Client().get("/static/annotation/dialogue.js")
    assert response.status_code == 200 and b"ratingSubmit" in b"".join(response.streaming_content)


def test_landing_lists_dialogues_that_wait_for_the_annotator():
    user = UserFactory()
    waiting = ready_turn(dialogue=DialogueFactory(annotator=user))
    done = DialogueFactory(annotator=user)
    annotate(ready_turn(dialogue=done))
    skipped = ready_turn(dialogue=DialogueFactory(annotator=user))
    TurnReport.objects.create(turn=skipped, annotator=user, reason="skip")
    html = logged_in(user).get("/").content.decode()
    assert f'href="/dialogues/{waiting.dialogue_id}/"' in html
    assert f'href="/dialogues/{done.pk}/"' not in html and f'href="/dialogues/{skipped.dialogue_id}/"' not in html


def test_markdown_render_keeps_formatting_and_drops_anything_executable():
    import re

    from annotation.views.markdown_render import markdown_render

    html = markdown_render(
        "Steps:\n- one\n- two\n\n[x](javascript:alert(1)) [y](https://example.org)\n\n"
        '<a href="javascript:alert(1)" onclick="x()">z</a> <iframe src="//evil"></iframe>'
    )
    assert "<ul>" in html and "<li>one</li>" in html  # a list straight under a line still renders
    tags = re.findall(r"<[a-z][^>]*>", html)  # real tags; raw HTML in the text is escaped, not a tag
    assert tags and not [t for t in tags if "javascript" in t or "onclick" in t or t.startswith("<iframe")]
    assert '<a href="https://example.org" rel="noopener noreferrer nofollow">y</a>' in html
    assert "&lt;iframe" in html  # shown as text
