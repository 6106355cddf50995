"""A live stack (gunicorn + a real Celery worker + Postgres + Redis) and Debian's Chromium, driven by Playwright.

Never `playwright install`: the browser is /usr/bin/chromium from apt (`make test` installs it).
Screenshots go to artifacts/browser/; with UPDATE_SCREENSHOTS=1 (`make screenshots`) the ones the
docs show are also written to docs/screenshots/.
"""

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.e2e.stack import ROOT, Stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
ARTIFACTS = ROOT / "artifacts" / "browser"
COMMITTED_SCREENSHOTS = ROOT / "docs" / "screenshots"
SAMPLING_TIMEOUT_MS = 120_000
REDIS_URL = "redis://127.0.0.1:6379/12"
COMMITTED = {"landing", "comparison", "safety", "dashboard_batch", "dashboard_annotator", "model_version"}
USERS = ["ann", "sam", "val", "fay", "xss", "lay", "eve", "sol"]

# The tiny model is built in a subprocess while the stack starts (importing transformers takes a while).
MODEL_BUILD = "import sys; from tests.e2e.conftest import foreign_model_dir; foreign_model_dir(sys.argv[1], seed=1)"

# One shell call sets up the world (a subprocess per command would cost seconds each), and queues one
# warm-up turn so that the worker has loaded the model by the time the first test samples.
WORLD = """
from annotation.services.users import user_create
from annotation.services.model_versions import model_version_register
from annotation.services.batches import batch_activate, batch_create
from annotation.services.dialogues import dialogue_create, turn_create
boss = user_create(username="boss", password="boss-passphrase", role="admin")
for name in {users!r}:
    user_create(username=name, password=name + "-passphrase", role="annotator")
model_version_register(name="tiny-v1", kind="policy", path={model!r}, current=True)
for track in ("helpfulness", "safety"):
    batch_activate(batch=batch_create(name="week-1-" + track, track=track, policy_versions=["tiny-v1"],
                                      temperature_min=0.7, temperature_max=1.3, target_comparisons=50,
                                      max_new_tokens=24))
turn_create(dialogue=dialogue_create(annotator=boss, track="helpfulness"), prompt="warm up")
"""


@pytest.fixture(scope="package")
def stack(tmp_path_factory):
    """The running stack, with accounts, two tiny policy versions and an active batch per track."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (make test does)")
    workdir = tmp_path_factory.mktemp("browser-stack")
    model = workdir / "tiny-chat"
    build = subprocess.Popen(
        [sys.executable, "-c", MODEL_BUILD, str(model)],
        cwd=ROOT,
        env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"},
    )
    # Redis database 12, not the e2e suite's 14: an e2e run beside this one flushes 14 when it starts,
    # and its worker would take this stack's tasks.
    running = Stack(workdir, worker_env={"REDIS_URL": REDIS_URL})
    try:
        running.start()
        running.worker_start()
        assert build.wait(timeout=300) == 0, "building the tiny model failed"
        running.manage("shell", "-c", textwrap.dedent(WORLD.format(users=USERS, model=str(model))), json_result=False)
        yield running
    finally:
        if build.poll() is None:
            build.kill()
            build.wait()
        for worker in running.workers:  # nothing of value is in flight; a warm shutdown costs many seconds
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        running.stop()
        (ARTIFACTS / "logs").mkdir(parents=True, exist_ok=True)
        for log in workdir.glob("*.log"):
            shutil.copyfile(log, ARTIFACTS / "logs" / log.name)


@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, stack):
    """A fresh browser profile (cookies, localStorage) at 1366×768, failing the test on any page error."""
    context = browser.new_context(base_url=stack.url, viewport={"width": 1366, "height": 768})
    context.set_default_timeout(20_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.page_errors = errors
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def screenshot(page, name: str, *, full_page: bool = False) -> Path:
    """Write artifacts/browser/<name>.png; with UPDATE_SCREENSHOTS=1 also docs/screenshots/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1" and name in COMMITTED:
        COMMITTED_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, COMMITTED_SCREENSHOTS / f"{name}.png")
    return path


def charts_of(page) -> list[dict]:
    """Every chart <img> once each has loaded (or failed): its address, whether it is drawn, its size."""
    page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=60_000)
    return page.eval_on_selector_all(
        ".charts img",
        "imgs => imgs.map(i => ({src: i.getAttribute('src'), complete: "
        "i.complete, width: i.naturalWidth, height: i.naturalHeight}))",
    )


def log_in(page, username: str) -> None:
    """Keys only: the login page focuses the username field."""
    page.goto("/")
    page.wait_for_url("**/login/**")
    page.wait_for_selector("input[name=username]:focus")  # type only once the field has the focus
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(f"{username}-passphrase")
    page.keyboard.press("Enter")
    page.wait_for_selector("#today-title")


def prompt_send(page, text: str) -> None:
    """Type into the focused prompt box and send it with Ctrl+Enter; wait for the two responses."""
    page.wait_for_selector("#prompt:focus")
    page.keyboard.type(text)
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#rating", timeout=SAMPLING_TIMEOUT_MS)


def saved(page) -> None:
    page.wait_for_selector(".saved")


@pytest.fixture
def overlap_fraction(stack):
    """Set how often a batch offers shared items: `overlap_fraction(batch_name, fraction)`. The batches here start
    at 0 and go back to 0 after the test, so that the tests after it are never handed a shared item."""
    changed = []

    def fraction_set(batch: str, fraction: float) -> None:
        assert stack.sql(
            "UPDATE annotation_batch SET overlap_fraction = %s WHERE name = %s RETURNING id", fraction, batch
        )
        changed.append(batch)

    yield fraction_set
    for batch in changed:
        stack.sql("UPDATE annotation_batch SET overlap_fraction = 0 WHERE name = %s RETURNING id", batch)


def overlap_items_ready(admin, batch_id: int, prompts: list[str]) -> None:
    """Upload overlap prompts as an admin and wait until the worker has sampled every pair."""
    assert admin.post(f"/api/batches/{batch_id}/overlap-items/", {"prompts": prompts}).status_code == 201
    deadline = time.time() + SAMPLING_TIMEOUT_MS / 1000
    while {i["status"] for i in admin.get(f"/api/batches/{batch_id}/overlap-items/").json()} != {"ready"}:
        assert time.time() < deadline, "the overlap pairs were never sampled"
        time.sleep(0.3)


def batch_id_of(admin, name: str) -> int:
    return next(b["id"] for b in admin.get("/api/batches/").json() if b["name"] == name)
