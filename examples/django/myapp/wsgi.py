"""WSGI entry point: ``gunicorn myapp.wsgi`` (or ``myapp.wsgi:application``).

Besides building the application it makes sure the SQLite database exists and
is migrated, so a fresh clone serves requests with no manual ``migrate`` step
(see myapp/bootstrap.py for how concurrent workers are kept apart).
"""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myapp.settings")

application = get_wsgi_application()  # runs django.setup()

from myapp.bootstrap import ensure_database  # noqa: E402  (needs settings loaded)

ensure_database()
