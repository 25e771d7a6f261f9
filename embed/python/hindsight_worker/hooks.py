"""Catching the exceptions a framework turns into a 500 itself, so the traceback is
reported even though nothing propagates to the WSGI server. Installed lazily, once the
framework is imported, and never changing what the app answers."""
import sys

_captured = []
_installed = set()


def reset():
    del _captured[:]


def record(exc_info):
    if exc_info and exc_info[1] is not None and not any(e is exc_info[1] for e in _captured):
        _captured.append(exc_info[1])


def first_captured():
    return _captured[0] if _captured else None


def _django_receiver(sender=None, **kwargs):
    # Sent by django.core.handlers.exception.response_for_exception inside its
    # except block, for every exception Django answers with a 500 (any DEBUG).
    record(sys.exc_info())


def _install_django():
    try:
        from django.core.signals import got_request_exception
    except Exception:
        return
    got_request_exception.connect(_django_receiver, weak=False, dispatch_uid="hindsight-worker")
    _installed.add("django")


def _install_flask():
    try:
        import flask
    except Exception:
        return
    original = flask.Flask.handle_exception
    if getattr(original, "__hindsight__", False):
        return

    # Flask.handle_exception runs for every unhandled exception, inside the except
    # block, with or without blinker and with PROPAGATE_EXCEPTIONS on or off.
    def handle_exception(self, e):
        __traceback_hide__ = True  # noqa: F841 (read by the traceback model)
        record(sys.exc_info())
        return original(self, e)

    handle_exception.__hindsight__ = True
    flask.Flask.handle_exception = handle_exception
    _installed.add("flask")


def install():
    """Called before each request: hooks frameworks imported since the last one."""
    if "django" not in _installed and "django.core.signals" in sys.modules:
        _install_django()
    if "flask" not in _installed and "flask" in sys.modules:
        _install_flask()
