"""Loading the app as gunicorn does (gunicorn.util.import_app): `module:attribute`,
`module:factory(args)`, `module` alone meaning `module:application`; --chdir and
--pythonpath applied first."""
import ast
import importlib
import os
import sys


class AppLoadError(Exception):
    """The spec names something that is not a WSGI app (gunicorn's AppImportError)."""


def prepare(chdir=None, pythonpath=None, env=None):
    for key, value in (env or {}).items():
        os.environ[str(key)] = str(value)
    insert_at = 0
    if chdir:
        os.chdir(chdir)
        chdir = os.path.abspath(chdir)
        if chdir in sys.path:
            sys.path.remove(chdir)
        sys.path.insert(0, chdir)
        insert_at = 1
    for path in pythonpath or []:
        path = os.path.abspath(path)
        if path not in sys.path:
            sys.path.insert(insert_at, path)
            insert_at += 1


def import_app(spec):
    parts = spec.split(":", 1)
    if len(parts) == 1:
        module, obj = spec, "application"
    else:
        module, obj = parts[0], parts[1]
    try:
        mod = importlib.import_module(module)
    except ImportError:
        if module.endswith(".py") and os.path.exists(module):
            raise ImportError("Failed to find application, did you mean '%s:%s'?" % (module.rsplit(".", 1)[0], obj))
        raise

    try:
        expression = ast.parse(obj, mode="eval").body
    except SyntaxError:
        raise AppLoadError("Failed to parse %r as an attribute name or function call." % obj)

    if isinstance(expression, ast.Name):
        name, args, kwargs = expression.id, None, None
    elif isinstance(expression, ast.Call):
        if not isinstance(expression.func, ast.Name):
            raise AppLoadError("Function reference must be a simple name: %r" % obj)
        name = expression.func.id
        try:
            args = [ast.literal_eval(arg) for arg in expression.args]
            kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in expression.keywords}
        except ValueError:
            raise AppLoadError("Failed to parse arguments as literal values: %r" % obj)
    else:
        raise AppLoadError("Failed to parse %r as an attribute name or function call." % obj)

    try:
        app = getattr(mod, name)
    except AttributeError:
        raise AppLoadError("Failed to find attribute %r in %r." % (name, module))

    if args is not None:
        app = app(*args, **kwargs)
    if app is None:
        raise AppLoadError("Failed to find application object: %r" % obj)
    if not callable(app):
        raise AppLoadError("Application object must be callable.")
    return app
