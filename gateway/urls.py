from django.urls import path

from gateway import views

# Mounted under /api/v1/ and /v1/ (hypereal_site/urls.py).
urlpatterns = [
    path("chat/completions", views.chat_completions, name="chat-completions"),
    path("models", views.models, name="models"),
    path("models/<path:model_id>", views.model_detail, name="model-detail"),
    path("messages", views.messages, name="messages"),
    path("messages/count_tokens", views.messages_count_tokens, name="messages-count-tokens"),
    path("responses", views.responses, name="responses"),
    path("codex/responses", views.codex_responses, name="codex-responses"),
    path("gemini", views.gemini, name="gemini"),
    path("gemini/<str:version>/models", views.gemini_models, name="gemini-models"),
    path("gemini/<str:version>/models/<str:target>", views.gemini_model_action, name="gemini-model-action"),
    path("chat", views.chat, name="chat"),
]
