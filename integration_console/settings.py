"""Settings, read from the environment (twelve-factor).

DATABASE_URL  default: a SQLite file in the project folder
REDIS_URL     set: jobs go to RQ queues; unset: jobs run in-process after commit
SECRET_KEY, DEBUG, ALLOWED_HOSTS
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG")
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set SECRET_KEY (or DEBUG=1 for a development run).")
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_filters",
    "django_rq",
    "simple_history",
    "bootstrap",
    "integration_console.catalog",
    "integration_console.sync",
    "review_queue",
    "integration_console.web",
    "connectors.simulator",
    "integration_console.ops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "integration_console.urls"
WSGI_APPLICATION = "integration_console.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded database serves the web threads and in-process jobs at once: WAL lets
    # readers go on during a write, IMMEDIATE takes the write lock up front instead of failing
    # half-way with "database is locked", and synchronous=NORMAL is safe under WAL. SQLite's
    # own page cache is 2 MB a connection: 32 MB keeps the inner pages of a large match index,
    # and a memory map of the file's first GB (the operating system's page cache, shared by
    # all connections) spares a system call for each page read.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                "PRAGMA cache_size=-32000; PRAGMA mmap_size=1073741824;"
            ),
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG

# Payload data is shown on every page: no inline script or style may run, whatever it holds.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],  # Bootstrap draws its form controls with data: SVGs
    # The one inline style attribute we allow, by hash: django-simple-history's paginator
    # ('border-top: 0' in simple_history/object_history_list.html).
    "style-src": [
        CSP.SELF,
        CSP.UNSAFE_HASHES,
        "'sha256-XMXSevYjgSjXgRafBFDvtjwX+yyWLrxfso9DcNZ9UXM='",
    ],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
if not DEBUG:
    # Production is HTTPS; each of these can be relaxed from the environment where a proxy
    # terminates TLS differently.
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS")
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD")
    # Whether every subdomain is HTTPS-only, and preloading, are the deployer's decisions about
    # their whole domain, not this app's: opt in through the two variables above.
    SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]
    if env_bool("BEHIND_TLS_PROXY"):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Jobs: with REDIS_URL they go to RQ; without, they run in-process after commit.
REDIS_URL = os.environ.get("REDIS_URL", "")
RQ_QUEUES = {
    "default": {"URL": REDIS_URL or "redis://127.0.0.1:6379/0", "DEFAULT_TIMEOUT": 900},
}

# Without REDIS_URL a job runs in a thread of the web process, after commit and outside the
# request ("thread"); the test suite runs them in the calling thread ("inline") so that a test
# sees a run's result as soon as its transaction's callbacks have run.
IN_PROCESS_JOBS = os.environ.get("IN_PROCESS_JOBS", "thread")
IN_PROCESS_JOB_THREADS = int(os.environ.get("IN_PROCESS_JOB_THREADS", "2"))

# A run is executed in chunks, each its own job that any worker takes: a chunk is this many
# records of the source (so one run spreads over every worker there is); a chunk that takes
# longer than SYNC_CHUNK_SECONDS goes on in a new job of its own, so that no job outlives RQ's
# job timeout.
SYNC_CHUNK_RECORDS = int(os.environ.get("SYNC_CHUNK_RECORDS", "500"))
SYNC_CHUNK_SECONDS = float(os.environ.get("SYNC_CHUNK_SECONDS", "120"))
# The process running a chunk proves it is alive this often (and saves where it stands).
SYNC_HEARTBEAT_EVERY = float(os.environ.get("SYNC_HEARTBEAT_EVERY", "5"))
# A running run whose heartbeat is older than this is taken over by sync_runs_recover (every
# minute, from RQ's cron) and resumed where it stands: a dead worker's run goes on within two
# minutes. A chunk beats between records and between one record's attempts, so this must only
# exceed one request's timeout (a system's timeout_seconds) by a good margin.
SYNC_RUN_STALE_AFTER = int(os.environ.get("SYNC_RUN_STALE_AFTER", "60"))
# A queued run that no worker has claimed for this long, and whose RQ job is gone, is queued
# again.
SYNC_RUN_QUEUED_STALE_AFTER = int(os.environ.get("SYNC_RUN_QUEUED_STALE_AFTER", "120"))

# A review item's retry that has not answered for this long (its job was lost) frees the item.
REVIEW_RETRY_STALE_AFTER = int(os.environ.get("REVIEW_RETRY_STALE_AFTER", "900"))

# E-mail (SLA breaches), through Django 6.1's MAILERS (the EMAIL_* settings are deprecated).
# EMAIL_BACKEND names the backend: by default mails are printed to the console in development
# (the demo) and sent by SMTP to EMAIL_HOST otherwise (`check --deploy` refuses the console
# backend in production). Links in mails start with CONSOLE_BASE_URL.
mail_backend = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
MAILERS = {"default": {"BACKEND": mail_backend}}
if mail_backend == "django.core.mail.backends.smtp.EmailBackend":
    MAILERS["default"]["OPTIONS"] = {
        "host": os.environ.get("EMAIL_HOST", "localhost"),
        "port": int(os.environ.get("EMAIL_PORT", "25")),
        "username": os.environ.get("EMAIL_HOST_USER", ""),
        "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
        "use_tls": env_bool("EMAIL_USE_TLS"),
    }
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "integration-console@localhost")
CONSOLE_BASE_URL = os.environ.get("CONSOLE_BASE_URL", "http://localhost:8000").rstrip("/")

# Where the queue's CSV exports are written (by the job: a worker must reach it too), kept a day.
EXPORTS_DIR = Path(os.environ.get("EXPORTS_DIR", BASE_DIR / "var" / "exports"))

# The environment variables a System may name as its token variable (a regular expression the
# whole name must match). A system's settings are edited in the admin; without this, naming
# SECRET_KEY or DATABASE_URL there would send this server's own secrets to that system as a
# bearer token. Overridable from the environment for deployments with their own naming scheme.
CONNECTOR_SECRET_ENV_PATTERN = os.environ.get("CONNECTOR_SECRET_ENV_PATTERN", r"^IC_[A-Z0-9_]+$")

SIMPLE_HISTORY_DATE_INDEX = "composite"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
