"""Side-effect containment on replay: for Django, every configured database runs the
request inside a transaction that is rolled back once the response is consumed, and
mail goes to the in-memory backend. Other frameworks: nothing can be contained, and
the result says so."""
import sys


class Containment:
    def __init__(self, enabled):
        self.enabled = enabled
        self.rolled_back = []
        self.not_contained = []
        self._atomics = []
        self._email_backend = None
        self._signals = None

    def _django_ready(self):
        if "django" not in sys.modules:
            return False
        try:
            from django.apps import apps
            return apps.ready
        except Exception:
            return False

    def __enter__(self):
        if not self.enabled:
            return self
        if not self._django_ready():
            self.not_contained.append(
                "no Django: database writes, mail and other side effects of this request were not contained")
            return self
        from django.core import mail
        from django.core.signals import request_finished, request_started
        from django.conf import settings
        from django.db import close_old_connections, connections, transaction

        # Django closes connections whose autocommit differs from the settings at the
        # start and end of a request, which an open transaction always does: the test
        # client disconnects the same receiver for the same reason.
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        self._signals = (request_started, request_finished, close_old_connections)

        # Set directly rather than with django.test's override_settings: importing
        # django.test (jinja2, the test client, ...) cost ~75 ms of every replay, and
        # mail.get_connection() reads the setting at each call anyway.
        self._email_backend = settings.EMAIL_BACKEND
        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
        mail.outbox = []

        for alias in connections:
            atomic = transaction.atomic(using=alias)
            try:
                atomic.__enter__()
            except Exception as e:  # e.g. a database that is down: the request decides
                self.not_contained.append("database %s: cannot open a transaction: %s" % (alias, e))
                continue
            self._atomics.append((alias, atomic))
        return self

    def __exit__(self, exc_type, exc, tb):
        if not self.enabled or self._signals is None:
            return False
        from django.core import mail
        from django.db import transaction
        for alias, atomic in reversed(self._atomics):
            try:
                transaction.set_rollback(True, using=alias)
                atomic.__exit__(None, None, None)
            except Exception as e:  # report, never mask the request's own outcome
                self.not_contained.append("database %s: rollback failed: %s" % (alias, e))
                continue
            self.rolled_back.append("database %s" % alias)
        self._atomics = []
        from django.conf import settings
        count = len(getattr(mail, "outbox", []) or [])
        settings.EMAIL_BACKEND = self._email_backend
        try:
            del mail.outbox
        except AttributeError:
            pass
        self.rolled_back.append("mail (%d message%s)" % (count, "" if count == 1 else "s"))
        started, finished, receiver = self._signals
        started.connect(receiver)
        finished.connect(receiver)
        self._signals = None
        return False
