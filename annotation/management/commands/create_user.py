from annotation.management.base import JsonCommand
from annotation.models import Role, Track
from annotation.services.users import user_create


class Command(JsonCommand):
    help = "Add an account (admins are Django staff)."

    def add_arguments(self, parser):
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument(
            "--track",
            action="append",
            choices=Track.values,
            dest="tracks",
            help="limit an annotator to this track (repeatable; default: all tracks)",
        )

    def run(self, *, username, password, role, tracks, **_):
        user = user_create(username=username, password=password, role=role, tracks=tracks)
        return {"username": user.username, "role": role, "tracks": tracks or list(Track.values), "id": user.pk}
