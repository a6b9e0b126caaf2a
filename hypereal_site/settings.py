"""Settings, read from the environment.

Embedded defaults (no variables set) give a complete local product: SQLite,
local-memory cache, in-memory channel layer and a filesystem Celery broker.
Setting DATABASE_URL and REDIS_URL switches to PostgreSQL and Redis.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # A development key generated once and kept out of the repository, so
    # sessions and signed URLs survive restarts of `make run`.
    key_file = BASE_DIR / ".secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "channels",
    "accounts",
    "billing",
    "catalog",
    "gateway",
    "media_jobs",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "hypereal_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dashboard.context_processors.portal",
            ],
        },
    },
]

WSGI_APPLICATION = "hypereal_site.wsgi.application"
ASGI_APPLICATION = "hypereal_site.asgi.application"

# --- Database -------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
if _db["ENGINE"] == "django.db.backends.postgresql":
    # Under ASGI every request may run its sync steps on a different thread;
    # persistent connections would leak one per thread, so pool instead.
    _db["OPTIONS"] = {
        "pool": {
            "min_size": env_int("DB_POOL_MIN", 2),
            "max_size": env_int("DB_POOL_MAX", 20),
            "timeout": 30,
        }
    }
    _db["CONN_MAX_AGE"] = 0
    if os.environ.get("TEST_DB_NAME"):
        _db["TEST"] = {"NAME": os.environ["TEST_DB_NAME"]}
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take the write lock up front, so two writers
    # queue instead of failing with "database is locked" on lock upgrade.
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not shared-cache memory: shared-cache SQLite fails concurrent
    # writers at once ("table is locked") instead of waiting for the lock.
    _db["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, channel layer, Celery ----------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "hr"),
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": os.environ.get("CACHE_KEY_PREFIX", "hr")},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    # A broker with no server: web and worker processes exchange messages
    # through a spool directory.
    _spool = VAR_DIR / "celery"
    for _sub in ("out", "processed", "control"):
        (_spool / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_spool / "out"),
        "data_folder_out": str(_spool / "out"),
        "processed_folder": str(_spool / "processed"),
        "store_processed": False,
        # Exchange bindings; kombu's default is ./control in the working directory.
        "control_folder": str(_spool / "control"),
        # The worker looks for new messages this often (default 1 s); a
        # synchronous media request waits for two or three task hops.
        "polling_interval": 0.1,
    }

CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Periodic tasks run by `celery beat` (embedded in the worker under `make run`).
CELERY_BEAT_SCHEDULE = {
    "release-expired-holds": {"task": "billing.release_expired_holds", "schedule": 300.0},
    "media-jobs-sweep": {"task": "media_jobs.sweep", "schedule": 30.0},
}

# --- Auth -----------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/dashboard/"
LOGOUT_REDIRECT_URL = "/"

# --- i18n, static, media --------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
if os.environ.get("S3_BUCKET"):
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ["S3_BUCKET"],
            "endpoint_url": os.environ.get("S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("S3_REGION") or None,
            "access_key": os.environ.get("S3_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("S3_SECRET_ACCESS_KEY") or None,
            "querystring_auth": False,
            "default_acl": "private",
        },
    }
WHITENOISE_USE_FINDERS = DEBUG

# --- Security (production defaults; `check --deploy` is clean with DEBUG off)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Health checks and the API are reached over plain HTTP inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Upstream credentials are encrypted with these Fernet keys (first encrypts,
# all decrypt, so keys can be rotated). Derived from SECRET_KEY when unset.
CREDENTIALS_KEYS = env_list("CREDENTIALS_KEYS", [])

# --- Email ----------------------------------------------------------------
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if os.environ.get("EMAIL_HOST")
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Hypereal <noreply@localhost>")

# --- Product --------------------------------------------------------------
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", f"http://127.0.0.1:{env_int('PORT', 8000)}")
# Where `seed_demo` points the catalog's upstream providers.
UPSTREAM_SIMULATOR_URL = os.environ.get("UPSTREAM_SIMULATOR_URL", "http://127.0.0.1:8100")
UPSTREAM_SIMULATOR_KEY = os.environ.get("UPSTREAM_SIMULATOR_KEY", "sim-local-key")
API_KEY_CACHE_SECONDS = env_int("API_KEY_CACHE_SECONDS", 300)
HOLD_TTL_SECONDS = env_int("HOLD_TTL_SECONDS", 3600)

# --- Gateway ----------------------------------------------------------------
# Requests per rolling hour, per API key and per user across all their keys
# (the docs: 1,000 per key; keys of one user share the user's quota). Each
# key and user can override these; 0 turns a scope off.
RATE_LIMIT_KEY_PER_HOUR = env_int("RATE_LIMIT_KEY_PER_HOUR", 1000)
RATE_LIMIT_USER_PER_HOUR = env_int("RATE_LIMIT_USER_PER_HOUR", 1000)
RATE_LIMIT_WINDOW_SECONDS = env_int("RATE_LIMIT_WINDOW_SECONDS", 3600)
# LLM calls need this much available balance (the docs: 200 credits = $2).
GATEWAY_MIN_BALANCE_MICROS = env_int("GATEWAY_MIN_BALANCE_CREDITS", 200) * 1_000_000
# Request bodies above this are refused with 413 (images in content are base64).
GATEWAY_MAX_BODY_BYTES = env_int("GATEWAY_MAX_BODY_BYTES", 32 * 1024 * 1024)
# Anthropic-format streams get an `event: ping` after this much upstream silence.
GATEWAY_SSE_PING_SECONDS = float(os.environ.get("GATEWAY_SSE_PING_SECONDS") or 15)
# Upstream HTTP: a bound on connecting; reads are bounded per provider
# (Provider.timeout_seconds, generous: reasoning streams go quiet for minutes).
UPSTREAM_CONNECT_TIMEOUT_SECONDS = float(os.environ.get("UPSTREAM_CONNECT_TIMEOUT_SECONDS") or 10)
UPSTREAM_MAX_CONNECTIONS = env_int("UPSTREAM_MAX_CONNECTIONS", 1000)
# A route that failed this many times in a row is skipped for the cooldown.
ROUTE_FAILURES_BEFORE_COOLDOWN = env_int("ROUTE_FAILURES_BEFORE_COOLDOWN", 3)
ROUTE_COOLDOWN_SECONDS = float(os.environ.get("ROUTE_COOLDOWN_SECONDS") or 30)
# How often a process checks for catalog changes, and the oldest snapshot it
# keeps without a shared cache to tell it of changes (catalog/selectors.py).
CATALOG_SNAPSHOT_CHECK_SECONDS = float(os.environ.get("CATALOG_SNAPSHOT_CHECK_SECONDS") or 2)
CATALOG_SNAPSHOT_MAX_AGE_SECONDS = float(os.environ.get("CATALOG_SNAPSHOT_MAX_AGE_SECONDS") or 60)

# Stripe (top-ups). Without keys the top-up page says top-ups are off.
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
STRIPE_PUBLISHABLE_KEY = os.environ.get("STRIPE_PUBLISHABLE_KEY", "")
STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET", "")
STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE", "")

# --- Media jobs -----------------------------------------------------------
# A synchronous media endpoint (images, video long-poll, audio, 3D) waits at
# most this long; the job fails and is refunded if it is not done by then.
MEDIA_SYNC_WAIT_SECONDS = env_int("MEDIA_SYNC_WAIT_SECONDS", 600)
# Asynchronous jobs (videos/generate) not finished by then are failed and
# refunded by the sweep.
MEDIA_JOB_DEADLINE_SECONDS = env_int("MEDIA_JOB_DEADLINE_SECONDS", 3600)
# Upstream polling: first delay, growth factor and cap (seconds).
MEDIA_POLL_INITIAL_SECONDS = env_float("MEDIA_POLL_INITIAL_SECONDS", 1.0)
MEDIA_POLL_FACTOR = env_float("MEDIA_POLL_FACTOR", 1.5)
MEDIA_POLL_MAX_SECONDS = env_float("MEDIA_POLL_MAX_SECONDS", 15.0)
# Input files fetched from clients' URLs and outputs copied from upstreams.
MEDIA_INPUT_MAX_BYTES = env_int("MEDIA_INPUT_MAX_BYTES", 25 * 1024 * 1024)
MEDIA_OUTPUT_MAX_BYTES = env_int("MEDIA_OUTPUT_MAX_BYTES", 500 * 1024 * 1024)
# Output URLs in API answers are signed and work without the API key until
# they expire; the owner can always fetch with the key.
MEDIA_SIGNED_URL_TTL_SECONDS = env_int("MEDIA_SIGNED_URL_TTL_SECONDS", 7 * 24 * 3600)
# Fetching a client's input URL on a private, loopback or link-local address
# is refused unless this is on (development, tests).
MEDIA_FETCH_ALLOW_PRIVATE_URLS = env_bool("MEDIA_FETCH_ALLOW_PRIVATE_URLS", False)
# Webhooks: a target on a private, loopback or link-local address is refused
# unless this is on (development, tests). Retries back off exponentially from
# the base delay up to the cap, for the window (about a day).
WEBHOOK_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", False)
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 10.0)
WEBHOOK_RETRY_BASE_SECONDS = env_float("WEBHOOK_RETRY_BASE_SECONDS", 30.0)
WEBHOOK_RETRY_MAX_DELAY_SECONDS = env_float("WEBHOOK_RETRY_MAX_DELAY_SECONDS", 4 * 3600.0)
WEBHOOK_RETRY_WINDOW_SECONDS = env_int("WEBHOOK_RETRY_WINDOW_SECONDS", 24 * 3600)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # The Stripe library logs every API call at INFO.
        "stripe": {"level": "WARNING"},
    },
}

# --- Customer portal --------------------------------------------------------
# django-ratelimit counts in the default cache: Redis when REDIS_URL is set
# (shared and atomic across processes); the local-memory cache otherwise,
# which is per process and fine for a single-process dev server.
RATELIMIT_USE_CACHE = "default"
# The client address the limits key on; behind a proxy point this at the
# header the proxy sets (e.g. HTTP_X_REAL_IP).
RATELIMIT_IP_META_KEY = os.environ.get("RATELIMIT_IP_META_KEY") or None
PORTAL_RATE_LIMITS = {
    "login_ip": os.environ.get("PORTAL_RATE_LOGIN_IP", "20/m"),
    "login_email": os.environ.get("PORTAL_RATE_LOGIN_EMAIL", "10/h"),
    "signup_ip": os.environ.get("PORTAL_RATE_SIGNUP_IP", "10/h"),
    "password_reset_ip": os.environ.get("PORTAL_RATE_PASSWORD_RESET_IP", "5/h"),
    "key_mint_user": os.environ.get("PORTAL_RATE_KEY_MINT", "30/h"),
    "topup_user": os.environ.get("PORTAL_RATE_TOPUP", "20/h"),
}
# Top-ups: at least $2 (200 credits); at most this many dollars at once.
TOPUP_MIN_CENTS = 200
TOPUP_MAX_CENTS = env_int("TOPUP_MAX_CENTS", 1_000_000)
