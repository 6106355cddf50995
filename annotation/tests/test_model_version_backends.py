"""Model versions served by an OpenAI-compatible server: registered, edited in the admin, planned and exported."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from annotation.models import ModelVersion, Sample
from annotation.selectors.exports import preference_export_rows
from annotation.services.sampling import SamplingVariant, sampling_plan_draw
from annotation.tests.factories import AdminFactory, BatchFactory, DialogueFactory, annotate, ready_turn

pytestmark = pytest.mark.django_db
VLLM = "http://vllm.internal:8000/v1"


def register(*args) -> dict:
    out = StringIO()
    call_command("register_model", "--kind", "policy", *args, stdout=out, stderr=StringIO())
    return json.loads(out.getvalue().strip().splitlines()[-1])


def test_a_policy_served_by_a_server_is_registered_with_endpoint_and_served_name(tiny_policy_dir):
    served = register("--name", "llama-vllm", "--endpoint", VLLM + "/", "--served-name", "meta-llama/Llama-3-8B")
    assert served["backend"] == "openai" and served["endpoint"] == VLLM and served["path"] == ""
    assert served["served_name"] == "meta-llama/Llama-3-8B"
    beside = register("--name", "both", "--endpoint", VLLM, "--served-name", "m", "--path", str(tiny_policy_dir))
    assert beside["backend"] == "openai" and beside["path"] == str(tiny_policy_dir.resolve())
    assert register("--name", "local", "--path", str(tiny_policy_dir))["backend"] == "local"


@pytest.mark.parametrize(
    "args, reason",
    [
        ([], "path: give --path (a local model directory) or --endpoint and --served-name (a model server)"),
        (["--endpoint", "vllm:8000"], "endpoint: vllm:8000 is not an http(s) URL"),
        (["--endpoint", VLLM], "served_name: an endpoint needs --served-name"),
        (["--served-name", "m"], "served_name: --served-name goes with --endpoint"),
        (["--endpoint", VLLM, "--served-name", "m", "--path", "/nowhere"], "path: /nowhere is not a Hugging Face"),
    ],
)
def test_bad_backend_input_is_refused_in_one_line(args, reason):
    with pytest.raises(CommandError, match=reason.replace("(", r"\(").replace(")", r"\)")) as refused:
        register("--name", "bad", *args)
    assert "\n" not in str(refused.value) and not ModelVersion.objects.filter(name="bad").exists()


def test_a_reward_model_cannot_be_served_from_an_endpoint():
    with pytest.raises(CommandError, match="endpoint: only a policy can be served from an endpoint"):
        call_command(
            "register_model",
            "--kind",
            "reward",
            "--track",
            "safety",
            "--name",
            "rm",
            "--endpoint",
            VLLM,
            "--served-name",
            "rm",
            stdout=StringIO(),
            stderr=StringIO(),
        )


def test_the_plan_carries_the_backend_and_an_old_plan_loads_as_local():
    served = ModelVersion.objects.create(
        name="served", kind="policy", backend="openai", endpoint_url=VLLM, served_name="m"
    )
    variants = sampling_plan_draw(
        versions=[served],
        temperature_min=0.7,
        temperature_max=1.2,
        top_p=0.9,
        max_new_tokens=16,
        rng=__import__("random").Random(0),
    )
    assert {(v.backend, v.endpoint_url, v.served_name) for v in variants} == {("openai", VLLM, "m")}
    old = {
        "label": "a",
        "model_version_id": 1,
        "model_name": "v0",
        "model_path": "/m",
        "temperature": 0.8,
        "top_p": 0.9,
        "max_new_tokens": 16,
        "seed": 3,
    }  # a plan saved before backends existed
    assert SamplingVariant(**old).backend == "local"


def test_the_admin_edits_a_versions_backend(tiny_policy_dir):
    admin = Client()
    admin.force_login(AdminFactory())
    form = {
        "name": "served",
        "kind": "policy",
        "track": "",
        "backend": "openai",
        "path": "",
        "endpoint_url": VLLM,
        "served_name": "m",
        "lineage": "{}",
        "metrics": "{}",
    }
    assert admin.post("/admin/annotation/modelversion/add/", form).status_code == 302
    version = ModelVersion.objects.get(name="served")
    assert (version.backend, version.endpoint_url, version.served_name) == ("openai", VLLM, "m")
    page = admin.post(f"/admin/annotation/modelversion/{version.pk}/change/", {**form, "endpoint_url": ""})
    assert page.status_code == 200 and "the openai backend needs the server&#x27;s base URL" in page.content.decode()
    page = admin.post("/admin/annotation/modelversion/add/", {**form, "name": "local", "backend": "local"})
    assert "a local model version has no endpoint" in page.content.decode()
    moved = {**form, "backend": "local", "endpoint_url": "", "served_name": "", "path": str(tiny_policy_dir)}
    assert admin.post(f"/admin/annotation/modelversion/{version.pk}/change/", moved).status_code == 302
    assert ModelVersion.objects.get(pk=version.pk).backend == "local"


def test_the_export_says_which_backend_made_each_reply():
    served = ModelVersion.objects.create(
        name="served", kind="policy", backend="openai", endpoint_url=VLLM, served_name="m"
    )
    batch = BatchFactory(policy_versions=[served])
    turn = ready_turn(dialogue=DialogueFactory(batch=batch))
    Sample.objects.filter(turn=turn, label="a").update(backend="openai")
    annotate(turn, chosen="a")
    row = next(preference_export_rows(batches=[batch.name]))
    assert (row["chosen_backend"], row["rejected_backend"]) == ("openai", "local")
    assert set(row["chosen_sampling"]) == {"temperature", "top_p", "max_new_tokens", "seed"}  # the contract's
