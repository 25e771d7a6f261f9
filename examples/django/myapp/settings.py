"""Settings for the hindsight Django example ("myapp").

Laid out like the Platform.sh Django template, but self-contained: SQLite only,
no static files, no external services, so it runs from a fresh clone with
/usr/bin/gunicorn and nothing else.

Environment variables:
  HINDSIGHT_EXAMPLE_DB  path of the SQLite database (default: db.sqlite3 next to
                        manage.py; gitignored). It is created on first start.
  DJANGO_DEBUG          "1"/"true"/"yes"/"on" turns DEBUG on. Default off, so the
                        deliberate bugs answer a plain 500 like in production.
"""
import os
from pathlib import Path

# examples/django/
BASE_DIR = Path(__file__).resolve().parent.parent

# A fixed, public, development-only key. This project exists to demonstrate
# bugs; never reuse this key (or this project) for anything real.
SECRET_KEY = "hindsight-example-dev-only-not-secret-0123456789abcdefghijklmnopqrstuvwxyz"

DEBUG = os.environ.get("DJANGO_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")

# The app sits behind hindsight and the platform router, which decide what
# reaches it; accept any Host so the example works on any environment URL.
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Kept on purpose (it is on in every real project); the JSON and upload
    # endpoints are marked csrf_exempt so curl and replays can POST to them.
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "myapp.urls"
WSGI_APPLICATION = "myapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("HINDSIGHT_EXAMPLE_DB") or str(BASE_DIR / "db.sqlite3"),
        # Several gunicorn workers share one file; wait for locks instead of
        # failing at once with "database is locked".
        "OPTIONS": {"timeout": 30},
    }
}

# Sessions live in a signed cookie: no session table, and a captured request
# carries its whole session, which makes replays self-contained.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# /upload/ streams the body itself; this only bounds urlencoded form fields.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# With DEBUG off Django only mails tracebacks to ADMINS (there are none), so
# nothing would show up in gunicorn's log. Print them to stderr instead.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "loggers": {
        "django": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "shop": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}
