"""Upstream adapters, one module per provider protocol (catalog.Provider.protocol)."""

from media_jobs.adapters import fish_audio, gemini_images, openai_images, wavespeed

ADAPTERS = {
    "openai_images": openai_images,
    "gemini": gemini_images,
    "media_jobs": wavespeed,
    "fish_audio": fish_audio,
}


def adapter_for(protocol: str):
    try:
        return ADAPTERS[protocol]
    except KeyError:
        raise LookupError(f"no media adapter for protocol {protocol!r}") from None
