from django.urls import path

from media_jobs import views

# Mounted under both /api/v1/ and /v1/ (hypereal_site/urls.py).
urlpatterns = [
    path("images/generations", views.images_generations, name="media-images-generations"),
    path("video/generations", views.video_generations, name="media-video-generations"),
    path("audio/generations", views.audio_generations, name="media-audio-generations"),
    path("images/generate", views.images_generate, name="media-images-generate"),
    path("videos/generate", views.videos_generate, name="media-videos-generate"),
    path("audio/generate", views.audio_generate, name="media-audio-generate"),
    path("3d/generate", views.threed_generate, name="media-3d-generate"),
    path("jobs/<str:job_id>", views.job_detail, name="media-job-detail"),
    path("jobs/<str:job_id>/outputs/<int:index>.<str:ext>", views.job_output, name="media-job-output"),
]
