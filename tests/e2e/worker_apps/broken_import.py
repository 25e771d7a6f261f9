"""Test-only: a module whose import fails, for the worker's import-error path."""
import json


def _configure():
    return json.loads("{not json")  # IMPORT_ERROR_LINE


settings = _configure()
