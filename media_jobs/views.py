"""Placeholder until the endpoints land (step 3)."""

from django.http import HttpResponse


def _todo(request, **kwargs):
    return HttpResponse(status=501)


images_generations = video_generations = audio_generations = images_generate = _todo
videos_generate = audio_generate = threed_generate = job_detail = job_output = _todo
