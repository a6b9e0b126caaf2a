"""Keep cached key authentications in step with edits made anywhere
(admin, dashboard, shell): any change to a key or its owner forgets them."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import ApiKey, User
from accounts.services import api_key_cache_invalidate


@receiver([post_save, post_delete], sender=ApiKey)
def _api_key_changed(sender, instance: ApiKey, created: bool = False, **kwargs) -> None:
    if created:  # nothing can be cached yet for a key that did not exist
        return
    api_key_cache_invalidate(key_hashes=[instance.key_hash], revoked=instance.revoked_at is not None)


@receiver(post_save, sender=User)
def _user_changed(sender, instance: User, created: bool, update_fields=None, **kwargs) -> None:
    if created or (update_fields and set(update_fields) <= {"last_login", "password"}):
        return
    api_key_cache_invalidate(key_hashes=list(ApiKey.objects.filter(user=instance).values_list("key_hash", flat=True)))
