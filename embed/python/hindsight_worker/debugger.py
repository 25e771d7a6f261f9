"""pdb sessions on the real pdb module, on the worker's stdin/stdout (the parent hands
the worker its terminal). Modes: stop at the first line of the app's own code,
breakpoints set from outside, post-mortem; the app's own breakpoint() works as is."""
import importlib.util
import os
import sys

from . import traceback_model

_state = {"used": False, "on_enter": None}


def _flag_interactions(pdb):
    """Wraps pdb.Pdb.interaction, through which every prompt opens (set_trace,
    breakpoint(), post-mortem, a breakpoint): it marks the request as debugged and runs
    on_enter."""
    original = pdb.Pdb.interaction
    if getattr(original, "__hindsight__", False):
        return

    def interaction(self, frame, traceback):
        _state["used"] = True
        if _state["on_enter"] is not None:
            _state["on_enter"]()
        return original(self, frame, traceback)

    interaction.__hindsight__ = True
    pdb.Pdb.interaction = interaction
    pdb.Pdb.do_EOF = _detach


def _detach(self, arg):
    """Ctrl-D (end of input) detaches: the breakpoints go, tracing stops and the
    request runs on to its response. `q` still quits, raising BdbQuit in the app, as
    pdb does; a live request is better finished than killed by a closed terminal."""
    self.message("")
    self.message("*** detached: the request continues without the debugger")
    self.clear_all_breaks()
    self.set_continue()  # without breakpoints Bdb stops tracing altogether
    return 1


class _FlagPdbOnImport:
    """pdb and what it imports cost 10-20 ms of every worker start, and most replays
    never open a prompt: pdb is imported when first needed, by this module or by the
    app's own `import pdb`, and flagged as soon as it is."""

    def find_spec(self, name, path=None, target=None):
        if name != "pdb":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("pdb")
        if spec is not None and spec.loader is not None:
            spec.loader = _FlaggingLoader(spec.loader)
        return spec


class _FlaggingLoader:
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        _flag_interactions(module)


if "pdb" in sys.modules:
    _flag_interactions(sys.modules["pdb"])
else:
    sys.meta_path.insert(0, _FlagPdbOnImport())


def _pdb():
    import pdb
    return pdb


def reset(on_enter=None):
    """Before a request. on_enter runs when any pdb prompt opens (e.g. to stop the
    soft timeout: a developer at the prompt is not a runaway request)."""
    _state["used"] = False
    _state["on_enter"] = on_enter


def used():
    return _state["used"]


def _is_app_code(frame):
    code = frame.f_code
    # Module bodies run while Django imports urls.py lazily; the developer wants the view.
    return code.co_name != "<module>" and traceback_model.is_app_file(code.co_filename)


def _view_dispatch_codes():
    """Code objects of the framework functions that call the view. With one of them
    known, "the app's own code" means the view and what it calls, not the app's
    middleware or before_request hooks that run first."""
    codes = set()
    django_base = sys.modules.get("django.core.handlers.base")
    if django_base is not None:
        codes.add(django_base.BaseHandler._get_response.__code__)
    flask_app = sys.modules.get("flask.app")
    if flask_app is not None:
        codes.add(flask_app.Flask.dispatch_request.__code__)
    return codes


class Session:
    """Tracing for one request; stop() removes every trace of it."""

    def __init__(self, mode, breaks, chdir):
        self.mode = mode
        self.pdb = None
        self.warnings = []
        self.breaks = breaks or []
        self.chdir = chdir or os.getcwd()

    def _set_breaks(self, p):
        for b in self.breaks:
            filename = b.get("file") or ""
            if not os.path.isabs(filename):
                filename = os.path.join(self.chdir, filename)
            try:
                line = int(b.get("line"))
            except (TypeError, ValueError):
                self.warnings.append("breakpoint %r: no line number" % (b,))
                continue
            err = p.set_break(os.path.abspath(filename), line, cond=b.get("condition") or None)
            if err:
                self.warnings.append("breakpoint %s:%d: %s" % (b.get("file"), line, err))

    def start(self):
        if self.mode == "pdb":
            p = self.pdb = _pdb().Pdb()
            self._set_breaks(p)

            dispatch_codes = _view_dispatch_codes()
            armed = [not dispatch_codes]

            def first_app_line(frame, event, arg):
                if event != "call":
                    return None
                if not armed[0]:
                    armed[0] = frame.f_code in dispatch_codes
                    return None
                if not _is_app_code(frame):
                    return None
                sys.settrace(None)
                p.set_trace(frame)  # steps: the frame's first line event stops
                return p.trace_dispatch

            sys.settrace(first_app_line)
        elif self.breaks:
            p = self.pdb = _pdb().Pdb()
            p.reset()
            self._set_breaks(p)
            if not p.breaks:
                return
            # Bdb.run's setup without its stop at the first line: the current frame is
            # the bottom, with "never stop here" (-1), so only breakpoints stop.
            p.botframe = sys._getframe()
            p._set_stopinfo(p.botframe, None, -1)
            sys.settrace(p.trace_dispatch)

    def stop(self):
        sys.settrace(None)
        if self.pdb is not None:
            self.pdb.clear_all_breaks()
            self.pdb = None


def post_mortem(exc):
    """pdb on the frames of exc (still alive: the model holds no frames, exc does)."""
    if exc is None or exc.__traceback__ is None:
        return
    p = _pdb().Pdb()
    p.reset()
    p.interaction(None, exc.__traceback__)
