from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "annotation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.contrib.auth import get_user_model
        from django.db.models.signals import pre_save

        from annotation.services.users import user_credentials_changed

        pre_save.connect(user_credentials_changed, sender=get_user_model(), dispatch_uid="user-credentials-changed")
