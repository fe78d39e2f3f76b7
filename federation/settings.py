"""Hashfed settings: one module, configured only through environment variables.

The defaults are production's: DEBUG off, HTTPS only, secure cookies, no host allowed until
ALLOWED_HOSTS names one. HUB_ENV=development (what `./dev serve` and the test settings set)
turns on what a developer's machine needs: DEBUG, localhost, plain http, console email.
Either way SQLite and in-process tasks are the defaults; production sets DATABASE_URL,
CELERY_BROKER_URL, SECRET_KEY (or SECRET_KEY_FILE), HUB_ORIGIN and HUB_SIGNING_KEY_FILE; see
docs/operations.md.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    """Read a setting from NAME, or from the file named by NAME_FILE (container secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        return Path(file_name).read_text().strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    return env(name, "1" if default else "0").lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(env(name, str(default)))


# Where the hub keeps what must survive restarts but never belongs in the repository: the
# generated development secret, the hub's signing key, snapshots, the PDQ index. Inside the
# checkout by default, like the development database, so checkouts never share it; what it
# holds is bound to the database's hub id (accounts.hub_identity) all the same.
STATE_DIR = Path(env("HUB_STATE_DIR", str(BASE_DIR / "var" / "state"))).expanduser()

# "production" unless told otherwise, so a forgotten variable never exposes debug pages.
HUB_ENV = env("HUB_ENV", "production")
if HUB_ENV not in {"production", "development"}:
    raise ValueError(f"HUB_ENV must be production or development, not {HUB_ENV!r}")
DEVELOPMENT = HUB_ENV == "development"
DEBUG = env_bool("DEBUG", DEVELOPMENT)


def _development_secret() -> str:
    path = STATE_DIR / "secret-key"
    if not path.exists():
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env("SECRET_KEY") or _development_secret()
# The generated secret is bound to one database at first use; a secret the operator sets is not.
DEVELOPMENT_SECRET_FILE = None if env("SECRET_KEY") else STATE_DIR / "secret-key"
ALLOWED_HOSTS = [
    h
    for h in env(
        "ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver" if DEVELOPMENT else ""
    ).split(",")
    if h
]
CSRF_TRUSTED_ORIGINS = [o for o in env("CSRF_TRUSTED_ORIGINS").split(",") if o]

# The hub's name as members write it in the `audience` of what they sign.
HUB_ORIGIN = env("HUB_ORIGIN", "hub.localhost")
# The hub's own Ed25519 key (PKCS#8 PEM). Generated on first use when the file is missing;
# unset, each database's hub gets its own under STATE_DIR/hubs/<hub id>/.
HUB_SIGNING_KEY_FILE = (
    Path(env("HUB_SIGNING_KEY_FILE")).expanduser() if env("HUB_SIGNING_KEY_FILE") else None
)
# The key this hub cosigns the checkpoints of the peer hubs it follows with (a witness key,
# C2SP tlog-cosignature). Generated on first use like the hub key, under the same folder.
HUB_WITNESS_KEY_FILE = (
    Path(env("HUB_WITNESS_KEY_FILE")).expanduser() if env("HUB_WITNESS_KEY_FILE") else None
)

INSTALLED_APPS = [
    "accounts.admin_site.HubAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp_webauthn",
    "core.apps.CoreConfig",
    "accounts",
    "hashbank",
    "federation.governance",
    "federation.authorities",
    "federation.incidents",
    "federation.transparency",
    "federation.peering",
    "federation.complaints",
    "federation.portal",
    "taxii",
]

MIDDLEWARE = [
    # First: every later middleware's log lines carry the request's id.
    "core.request_id.RequestIdMiddleware",
    # Request counts, latencies and statuses for /metrics (django-prometheus): its "before"
    # middleware as early as possible, its "after" one as late as possible.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.second_factor.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes requires: it turns a lockout raised during login into its page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "federation.urls"
WSGI_APPLICATION = "federation.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "federation" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'hashfed.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    (BASE_DIR / "var").mkdir(exist_ok=True)
    # BEGIN IMMEDIATE takes the write lock up front, so the serialised appends of the audit
    # chain and the change log never deadlock on a read-then-write lock upgrade.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}

# A PostgreSQL streaming replica for sync reads (core.db_routing; the lag policy is in
# docs/operations.md, "Read replica"). Its role needs only SELECT.
if env("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = dj_database_url.parse(
        env("DATABASE_REPLICA_URL"), conn_max_age=env_int("DB_CONN_MAX_AGE", 0)
    )
    # Test runs have no replica of their test database: the alias then reads the primary's.
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["core.db_routing.ReadReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First, as django-axes requires: it refuses a locked-out login before any password check.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# django-guardian: no anonymous user row; anonymous callers never hold object grants.
ANONYMOUS_USER_NAME = None
GUARDIAN_MONKEY_PATCH_USER = False

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where collectstatic writes the files the reverse proxy serves under /static/.
STATIC_ROOT = Path(env("STATIC_ROOT", str(BASE_DIR / "staticfiles"))).expanduser()

EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEVELOPMENT
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "hub@localhost")
# Where the public site tells people to write to the consortium.
HUB_CONTACT_EMAIL = env("HUB_CONTACT_EMAIL", DEFAULT_FROM_EMAIL)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "accounts.authentication.OrganisationSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.api_permissions.DeclaredActionPermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.api_input.StrictJSONParser"],
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.api_schema.HubAutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Hashfed API",
    "DESCRIPTION": "Signed hash sharing, sync and lookup for member platforms of the consortium.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # The API reference page loads Redoc from the hub's own static files, never a CDN.
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Request bodies get their own components, so they state what is required of a client
    # (non-blank text, no read-only fields) rather than what a response carries.
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "DisputeOutcomeEnum": "hashbank.models.DisputeOutcome",
        "RevocationReasonEnum": "accounts.models.RevocationReason",
        "OrganisationKindEnum": "accounts.models.OrganisationKind",
        "OpinionKindEnum": "hashbank.models.OpinionKind",
        "DisputeKindEnum": "hashbank.models.DisputeKind",
        "LawfulRequestKindEnum": "federation.authorities.models.LawfulRequestKind",
        "AnswerOutcomeEnum": "federation.authorities.models.AnswerOutcome",
        "UrgencyEnum": "federation.authorities.models.Urgency",
    },
}

# Celery: with no broker configured, tasks run in-process at enqueue time (the embedded
# default); production points CELERY_BROKER_URL at Redis or RabbitMQ.
CELERY_BROKER_URL = env("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
# The Celery app whose broker /healthz checks (core.health).
HEALTHZ_CELERY_APP = "federation.celery.app"

# API keys: how often last-used time is written back (seconds); a write per request would
# make every read a write.
API_KEY_LAST_USED_RESOLUTION = env_int("API_KEY_LAST_USED_RESOLUTION", 60)

if not DEVELOPMENT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }

# Logs go to standard error, one line per record. LOG_FORMAT=json (production's default) writes
# one JSON object per line (time, level, logger, message, request_id and any extra fields),
# for a log collector; text (development's default) is for people reading a terminal. Every
# record carries the id of the request that caused it (core.request_id).
LOG_FORMAT = env("LOG_FORMAT", "text" if DEVELOPMENT else "json")
if LOG_FORMAT not in {"json", "text"}:
    raise ValueError(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.request_id.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "timestamp": False,
        },
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": LOG_FORMAT,
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    # faiss (pulled in by the threatexchange signal types) reports its CPU probing at INFO.
    "loggers": {"faiss.loader": {"level": "WARNING"}},
}

# Prometheus metrics at /metrics (federation.metrics), for the operator's scraper only: the
# scraper sends `Authorization: Bearer <HUB_METRICS_TOKEN>`. Unset, /metrics answers 404.
# Under gunicorn with several workers, set PROMETHEUS_MULTIPROC_DIR (an empty directory) so
# that counters add up across workers (deploy/gunicorn.conf.py).
HUB_METRICS_TOKEN = env("HUB_METRICS_TOKEN")
# Lawful requests whose deadline is this close, and still open, count as "near deadline".
METRICS_DEADLINE_WARNING_HOURS = env_int("METRICS_DEADLINE_WARNING_HOURS", 24)
# django-prometheus: no per-model or migration metrics, only the request middleware's.
PROMETHEUS_EXPORT_MIGRATIONS = False

# Reverse proxies in front of the hub whose X-Forwarded-For entries are trusted (0 = none).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# Disputes: days for staff to decide, and after a decision, days in which a party may appeal.
DISPUTE_DECISION_DAYS = env_int("DISPUTE_DECISION_DAYS", 14)
DISPUTE_APPEAL_WINDOW_DAYS = env_int("DISPUTE_APPEAL_WINDOW_DAYS", 30)
# Days the text beside a change-log entry (its incident) is kept once a later entry of the
# same signal superseded it (hashbank.services.provenance.erase_expired_disclosures).
HASHBANK_DISCLOSURE_RETENTION_DAYS = env_int("HASHBANK_DISCLOSURE_RETENTION_DAYS", 90)
# Complaints from the public (/help/complaint/): their personal data (address, free text,
# hash) is erased this many days after closing; at most this many complaints an hour from
# one address.
HUB_COMPLAINT_RETENTION_DAYS = env_int("HUB_COMPLAINT_RETENTION_DAYS", 180)
HUB_COMPLAINT_RATE_PER_HOUR = env_int("HUB_COMPLAINT_RATE_PER_HOUR", 5)
# Submission receipts promise that an approved submission's log entry is covered by a signed
# checkpoint of its bank within this many seconds (docs/transparency-log.md, "Receipts").
# The beat signs checkpoints every 5 seconds; the margin covers a worker restart or a backlog.
INCLUSION_MAX_DELAY = env_int("HASHFED_INCLUSION_MAX_DELAY", 60)
# Where the hub writes the signed snapshots members download for a first sync.
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(STATE_DIR / "media"))).expanduser()

# The PDQ index files (built by hashbank.tasks.rebuild_pdq_index, memory-mapped by every
# web process).
PDQ_INDEX_DIR = Path(env("PDQ_INDEX_DIR", str(STATE_DIR / "pdq-index"))).expanduser()
# Lookups (hashes queried) each organisation may make per minute.
LOOKUP_RATE_PER_MINUTE = env_int("LOOKUP_RATE_PER_MINUTE", 120_000)
# Hosted hashing: the largest upload accepted (image or video), in bytes, held in memory; and
# the most pixels an image, or a video's frame, may decode to.
HOSTED_HASH_MAX_BYTES = env_int("HOSTED_HASH_MAX_BYTES", 64 * 1024 * 1024)
HOSTED_HASH_MAX_PIXELS = env_int("HOSTED_HASH_MAX_PIXELS", 24_000_000)
# Hosted hashing: seconds one image may take to decode and hash before it is refused.
HOSTED_HASH_MAX_SECONDS = float(env("HOSTED_HASH_MAX_SECONDS", "5"))
# Hosted hashing of videos: the longest video hashed (seconds of video, declared or decoded),
# the most frames decoded, and the seconds the whole hashing may take.
HOSTED_HASH_VIDEO_MAX_DURATION = float(env("HOSTED_HASH_VIDEO_MAX_DURATION", "120"))
HOSTED_HASH_VIDEO_MAX_FRAMES = env_int("HOSTED_HASH_VIDEO_MAX_FRAMES", 7_200)
HOSTED_HASH_VIDEO_MAX_SECONDS = float(env("HOSTED_HASH_VIDEO_MAX_SECONDS", "60"))

# Governance. Where the consortium's rules say the board decides on applications, approval
# and rejection follow the board's votes: at least QUORUM votes cast, and more than MAJORITY
# (a share of the approve and reject votes; abstentions count for the quorum only).
GOVERNANCE_BOARD_DECIDES = env_bool("GOVERNANCE_BOARD_DECIDES", False)
GOVERNANCE_BOARD_QUORUM = env_int("GOVERNANCE_BOARD_QUORUM", 3)
GOVERNANCE_BOARD_MAJORITY = float(env("GOVERNANCE_BOARD_MAJORITY", "0.5"))
# Days a new member is given to meet the criteria its evidence did not show.
GOVERNANCE_CRITERIA_TARGET_DAYS = env_int("GOVERNANCE_CRITERIA_TARGET_DAYS", 180)
# How long an email verification link works, in seconds.
GOVERNANCE_VERIFY_MAX_AGE = env_int("GOVERNANCE_VERIFY_MAX_AGE", 3 * 24 * 3600)
# How long an invitation to join an organisation works, in seconds.
GOVERNANCE_INVITATION_MAX_AGE = env_int("GOVERNANCE_INVITATION_MAX_AGE", 7 * 24 * 3600)
GOVERNANCE_STAFF_EMAIL = env("GOVERNANCE_STAFF_EMAIL", "governance@localhost")
GOVERNANCE_APPEALS_EMAIL = env("GOVERNANCE_APPEALS_EMAIL", "appeals@localhost")
# The hub's public address: every absolute link in an email starts with it.
# PORTAL_BASE_URL is its former, deprecated name.
HUB_PUBLIC_URL = env("HUB_PUBLIC_URL", env("PORTAL_BASE_URL", "http://127.0.0.1:8000"))
LOGIN_URL = "portal:login"
# Where a staff session with its second factor pending is sent (django-otp's setting).
OTP_LOGIN_URL = "portal:two-factor"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "portal:membership"

# Login lockout (django-axes), for the portal and admin alike; the API takes keys, not
# passwords, and is not affected. A lockout holds one account from one address: counting by
# account alone would let anyone lock staff out by guessing at their address, by address
# alone would lock out a whole office behind one address for one person's typos. A guesser
# with many addresses gets AXES_FAILURE_LIMIT tries from each per pause; the second factor
# is what holds staff accounts against that. Then a pause of AXES_COOLOFF_MINUTES.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 30) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# What the login forms call the email address (axes would look for "email", the user
# model's field, and count every failure against no account at all).
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "portal/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "accounts.principal.client_ip"
AXES_VERBOSE = False

# Second factor (django-otp): TOTP apps, one-time recovery codes and passkeys. Required of
# staff everywhere they sign in, optional for members (once a member enrols, it is required
# of them too); see accounts/second_factor.py.
OTP_TOTP_ISSUER = "Hashfed"
# Passkeys are scoped to the portal's host name: moving the hub to another name means
# enrolling them again (TOTP and recovery codes keep working).
# Browsers allow passkeys over https, or on http://localhost: a development hub on
# http://127.0.0.1 offers them on http://localhost at the same port.
_portal = urlsplit(HUB_PUBLIC_URL)
if _portal.scheme != "https":
    _portal = urlsplit(f"http://localhost:{_portal.port or 80}")
OTP_WEBAUTHN_RP_ID = _portal.hostname
OTP_WEBAUTHN_RP_NAME = "Hashfed"
OTP_WEBAUTHN_ALLOWED_ORIGINS = [f"{_portal.scheme}://{_portal.netloc}"]
# A passkey is a second factor here, never a replacement for the password (and its lockout).
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False

# Content-Security-Policy (django-csp): nothing inline, nothing from elsewhere. The QR code
# for enrolling a TOTP app is inline SVG markup, no image request at all.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# Lawful requests: hours platforms have from receipt (forwarding) to answer, by kind. A
# removal order's hour is fixed by law and not configurable.
LAWFUL_REQUEST_DEADLINE_HOURS = {
    "notice": env_int("LAWFUL_REQUEST_NOTICE_HOURS", 72),
    "preservation": env_int("LAWFUL_REQUEST_PRESERVATION_HOURS", 24),
    "information": env_int("LAWFUL_REQUEST_INFORMATION_HOURS", 240),
}

# Webhooks: refusing loopback addresses is what keeps members from pointing the hub at its
# own services; tests that run a receiver on 127.0.0.1 (and only they) turn this on.
WEBHOOK_ALLOW_LOOPBACK = env_bool("WEBHOOK_ALLOW_LOOPBACK", False)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10)
# How long a worker owns a delivery it claimed; longer than the timeout, so a live worker
# never loses its claim, short enough that a dead worker's delivery is retried soon.
WEBHOOK_DELIVERY_LEASE_SECONDS = env_int("WEBHOOK_DELIVERY_LEASE_SECONDS", 60)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 10)
WEBHOOK_RETRY_BASE_SECONDS = env_int("WEBHOOK_RETRY_BASE_SECONDS", 30)
WEBHOOK_RETRY_MAX_SECONDS = env_int("WEBHOOK_RETRY_MAX_SECONDS", 6 * 3600)

# Refused requests: counted per source, action and reason in windows of this length; only
# the first of each is chained into the audit trail, and at most this many per window.
AUDIT_DENIAL_WINDOW_SECONDS = env_int("AUDIT_DENIAL_WINDOW_SECONDS", 3600)
AUDIT_DENIAL_CHAIN_LIMIT = env_int("AUDIT_DENIAL_CHAIN_LIMIT", 1000)

# Researchers' statistics: counts under this are never shown.
STATISTICS_MIN_CELL_SIZE = env_int("STATISTICS_MIN_CELL_SIZE", 10)
# Redis hands an unacknowledged task (its worker died) to another worker after this many
# seconds; the webhook requeue job covers deliveries sooner through their leases.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}

# Encrypts webhook endpoint secrets at rest (defaults to a key derived from SECRET_KEY;
# changing it means endpoints must be registered again).
WEBHOOK_SECRETS_KEY = env("WEBHOOK_SECRETS_KEY")
