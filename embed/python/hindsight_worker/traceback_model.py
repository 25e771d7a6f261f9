"""The traceback model of docs/worker-protocol.md: an exception, its chain, and its
frames with source and bounded reprs of their locals. Pure: no I/O but linecache."""
import linecache
import os
import reprlib
import site
import sys
import sysconfig

CONTEXT_LINES = 5
MAX_FRAMES = 200
MAX_CHAIN = 10
WORKER_PREFIX = "<hindsight>"


def _library_roots():
    roots = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            path = sysconfig.get_paths().get(key)
        except Exception:
            path = None
        if path:
            roots.add(os.path.realpath(path))
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        roots.add(os.path.realpath(os.path.join(prefix, "lib", "python%d.%d" % sys.version_info[:2])))
    try:
        for path in site.getsitepackages() + [site.getusersitepackages()]:
            roots.add(os.path.realpath(path))
    except Exception:
        pass
    return tuple(sorted(r.rstrip("/") + "/" for r in roots))


_ROOTS = None


def is_app_file(filename):
    """False for the standard library, site-/dist-packages, frozen and generated code
    and the worker itself; True for the app's own files."""
    global _ROOTS
    if not filename or filename.startswith("<") or filename.startswith(WORKER_PREFIX):
        return False
    if "/site-packages/" in filename or "/dist-packages/" in filename:
        return False
    if _ROOTS is None:
        _ROOTS = _library_roots()
    real = os.path.realpath(filename)
    return not any(real.startswith(root) or filename.startswith(root) for root in _ROOTS)


class _BoundedRepr(reprlib.Repr):
    """reprlib with the protocol's bounds: 20 items, depth 3; strings cut later at 200."""

    def __init__(self):
        super().__init__()
        self.maxlevel = 3
        for attr in ("maxtuple", "maxlist", "maxarray", "maxdict", "maxset", "maxfrozenset", "maxdeque"):
            setattr(self, attr, 20)
        self.maxstring = 200
        self.maxlong = 200
        self.maxother = 200

    def repr_instance(self, obj, level):
        try:
            text = repr(obj)
        except Exception as exc:  # a broken __repr__ must not break the capture
            return safe_failure(exc)
        if len(text) > self.maxother:
            text = text[:self.maxother - 3] + "..."
        return text


_REPR = _BoundedRepr()
MAX_REPR = 200


def safe_failure(exc):
    try:
        detail = "%s: %s" % (type(exc).__name__, exc)
    except Exception:
        detail = type(exc).__name__
    return "<repr failed: %s>" % detail[:150]


def safe_repr(value):
    try:
        text = _REPR.repr(value)
    except Exception as exc:
        text = safe_failure(exc)
    if not isinstance(text, str):
        text = "<repr failed: __repr__ returned %s>" % type(text).__name__
    if len(text) > MAX_REPR:
        text = text[:MAX_REPR - 3] + "..."
    return text


def safe_str(exc):
    try:
        return str(exc)
    except Exception as e:
        return safe_failure(e)


def _frame_hidden(frame):
    try:
        return bool(frame.f_locals.get("__traceback_hide__"))
    except Exception:
        return False


def frame_model(frame, lineno, with_locals=True):
    code = frame.f_code
    filename = code.co_filename
    linecache.checkcache(filename)
    first = max(1, lineno - CONTEXT_LINES)
    source = []
    for n in range(first, lineno + CONTEXT_LINES + 1):
        line = linecache.getline(filename, n, frame.f_globals)
        if not line:
            if n > lineno:
                break
            continue
        source.append([n, line.rstrip("\r\n")])
    model = {
        "file": filename,
        "line": lineno,
        "function": code.co_name,
        "app": is_app_file(filename),
        "source": source,
        "source_line": lineno,
        "locals": {},
    }
    if with_locals:
        try:
            items = list(frame.f_locals.items())
        except Exception:
            items = []
        model["locals"] = {str(k): safe_repr(v) for k, v in items if k != "__traceback_hide__"}
    return model


def frames_of(tb):
    frames = []
    while tb is not None and len(frames) < MAX_FRAMES:
        frame = tb.tb_frame
        if not frame.f_code.co_filename.startswith(WORKER_PREFIX) and not _frame_hidden(frame):
            frames.append(frame_model(frame, tb.tb_lineno))
        tb = tb.tb_next
    return frames


def _type_info(exc):
    cls = type(exc)
    return cls.__qualname__, cls.__module__


def _notes(exc):
    notes = getattr(exc, "__notes__", None)
    if not isinstance(notes, (list, tuple)):
        return []
    return [safe_str(n) if not isinstance(n, str) else n for n in notes]


def exception_model(exc):
    """The model of one exception: type, module, message, notes, frames, and the
    chain of its causes and contexts (innermost last)."""
    name, module = _type_info(exc)
    model = {
        "type": name,
        "module": module,
        "message": safe_str(exc),
        "notes": _notes(exc),
        "frames": frames_of(exc.__traceback__),
        "chain": [],
    }
    chain = []
    seen = {id(exc)}
    current = exc
    while len(chain) < MAX_CHAIN:
        if current.__cause__ is not None:
            nxt, relation = current.__cause__, "cause"
        elif current.__context__ is not None and not current.__suppress_context__:
            nxt, relation = current.__context__, "context"
        else:
            break
        if id(nxt) in seen:
            break
        seen.add(id(nxt))
        n_name, n_module = _type_info(nxt)
        chain.append({
            "relation": relation,
            "type": n_name,
            "module": n_module,
            "message": safe_str(nxt),
            "notes": _notes(nxt),
            "frames": frames_of(nxt.__traceback__),
        })
        current = nxt
    # chain[0] is this exception's direct cause (or context), chain[-1] the innermost,
    # first-raised one: the reverse of the order Python prints them in.
    model["chain"] = chain
    return model
