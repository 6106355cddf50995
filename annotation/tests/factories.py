import secrets

import factory
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models import Batch, Comparison, Dialogue, ModelVersion, Profile, Role, Sample, Turn
from annotation.services.users import admin_grant

PASSWORD = "factory-made-passphrase"  # every factory account's password; it passes AUTH_PASSWORD_VALIDATORS


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def profile(user, create, extracted, **kwargs):
        role = kwargs.get("role", Role.ANNOTATOR)
        user.save()
        if role == Role.ADMIN:
            admin_grant(user=user)  # staff in the platform admins group, as create_user makes them
        Profile.objects.create(
            user=user, role=role, tracks=kwargs.get("tracks", []), pseudonym=f"annotator-{secrets.token_hex(6)}"
        )


class AdminFactory(UserFactory):
    profile__role = Role.ADMIN


class ModelVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelVersion

    name = factory.Sequence(lambda n: f"policy-v{n}")
    kind = ModelVersion.Kind.POLICY
    track = ""
    path = "/nonexistent"


class BatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Batch
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"batch-{n}")
    track = "helpfulness"
    status = Batch.Status.ACTIVE
    temperature_min = 0.7
    temperature_max = 1.2
    target_comparisons = 100

    @factory.post_generation
    def policy_versions(batch, create, extracted, **kwargs):
        batch.policy_versions.set(extracted or [ModelVersionFactory()])


def active_batch(track: str = "helpfulness") -> Batch:
    """The track's active batch, created if there is none (one active batch per track)."""
    return Batch.objects.filter(track=track, status=Batch.Status.ACTIVE).first() or BatchFactory(track=track)


class DialogueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dialogue

    annotator = factory.SubFactory(UserFactory)
    batch = factory.LazyFunction(active_batch)
    track = factory.SelfAttribute("batch.track")


class TurnFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Turn

    dialogue = factory.SubFactory(DialogueFactory)
    index = factory.Sequence(lambda n: n)
    prompt = factory.Sequence(lambda n: f"prompt {n}")
    status = Turn.Status.SAMPLING


def ready_turn(**kwargs) -> Turn:
    """A turn with two samples (A and B from different versions/temperatures), ready for a comparison."""
    turn = TurnFactory(status=Turn.Status.READY, **kwargs)
    versions = list(turn.dialogue.batch.policy_versions.all()) * 2
    for label, version, temperature in (("a", versions[0], 0.8), ("b", versions[1], 1.1)):
        Sample.objects.create(
            turn=turn,
            label=label,
            text=f"reply {label} to {turn.prompt}",
            model_version=version,
            temperature=temperature,
            top_p=0.9,
            max_new_tokens=64,
            seed=7,
            prompt_tokens=10,
            completion_tokens=5,
            generation_seconds=0.1,
        )
    return turn


def unloadable_policy_turn(tmp_path) -> Turn:
    """A sampling turn of a batch whose one policy version, "broken", is a directory that cannot load
    (its config.json is empty), registered through the service."""
    from annotation.services.model_versions import model_version_register

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    version = model_version_register(name="broken", kind="policy", path=str(broken))
    return TurnFactory(dialogue=DialogueFactory(batch=BatchFactory(policy_versions=[version])))


def annotate(turn: Turn, *, chosen="a", strength="better", a_safe=None, b_safe=None, **kwargs) -> Comparison:
    from annotation.services.comparisons import comparison_create

    return comparison_create(
        turn=turn,
        annotator=turn.dialogue.annotator,
        chosen=chosen,
        strength=strength,
        a_safe=a_safe,
        b_safe=b_safe,
        time_spent_ms=kwargs.pop("time_spent_ms", 1000),
        **kwargs,
    )


def client_for(user) -> APIClient:
    """An API client authenticated with the user's token."""
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client
