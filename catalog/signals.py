from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from catalog.models import AiModel, ModelAlias, ModelPrice, Provider, Route
from catalog.selectors import catalog_snapshot_invalidate


@receiver([post_save, post_delete])
def _catalog_changed(sender, **kwargs) -> None:
    if sender in (AiModel, ModelPrice, ModelAlias, Provider, Route):
        # After commit, so no process rebuilds from data that may roll back.
        transaction.on_commit(catalog_snapshot_invalidate)
