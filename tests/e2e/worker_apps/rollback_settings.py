"""Test-only Django settings: the example project plus two views that write (urls in
rollback_urls.py), for the worker's rollback tests."""
import os

from myapp.settings import *  # noqa: F401,F403

ROOT_URLCONF = "rollback_urls"

# Mail that escapes lands in files the test can count (rollback: false).
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.environ["HINDSIGHT_TEST_MAIL_DIR"]
