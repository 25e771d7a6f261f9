"""Create and migrate the SQLite database on first start.

Called from myapp/wsgi.py at import time. Why at import: ``gunicorn myapp.wsgi``
must work on a fresh clone (and on a fresh hindsight replay sandbox) with no
manual ``manage.py migrate``.

Why the care:
  * gunicorn without ``--preload`` imports wsgi.py once per worker, so with
    ``-w 4`` four processes get here at the same moment. They serialise on an
    exclusive ``fcntl.flock`` on ``<db>.lock``; whoever gets it second re-checks
    and finds the tables already there.
  * The fast path (DB file exists and has every table) takes no lock and opens
    the file read-only, so normal starts cost one tiny query.
  * Connections opened here are closed again, so none is inherited by workers
    forked after ``--preload``.
"""
import fcntl
import logging
import os
import sqlite3

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import connections

log = logging.getLogger("shop")


def _required_tables():
    tables = {"django_migrations"}
    for model in apps.get_models():
        if model._meta.managed and not model._meta.proxy:
            tables.add(model._meta.db_table)
    return tables


def _missing_tables(db_path):
    """Tables the app needs that the database lacks (all of them if no file)."""
    required = _required_tables()
    if not os.path.exists(db_path):
        return required
    try:
        # mode=ro: never create or modify the file on this check.
        conn = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=30)
        try:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return required
    return required - {name for (name,) in rows}


def ensure_database():
    db_path = str(settings.DATABASES["default"]["NAME"])
    if db_path == ":memory:" or db_path.startswith("file:"):
        return  # not a plain file: nothing sensible to lock or to check
    if not _missing_tables(db_path):
        return

    directory = os.path.dirname(os.path.abspath(db_path))
    os.makedirs(directory, exist_ok=True)
    with open(db_path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # blocks while another worker migrates
        try:
            missing = _missing_tables(db_path)
            if missing:
                log.info("creating database %s (missing tables: %s)", db_path, ", ".join(sorted(missing)))
                call_command("migrate", interactive=False, verbosity=0)
        finally:
            connections.close_all()
            fcntl.flock(lock, fcntl.LOCK_UN)
