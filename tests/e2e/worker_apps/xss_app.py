"""An app whose failure carries markup from the request: the query string becomes a
local variable and the exception's message. A traceback page must show it as text."""
from urllib.parse import unquote


def app(environ, start_response):
    payload = unquote(environ.get("QUERY_STRING", ""))
    raise ValueError(payload)
