"""An app that never imports pdb itself: its view's breakpoint() makes Python import
pdb in the middle of the request, which the worker must still notice (the prompt is
a debugger session, not a runaway request for the soft timeout)."""


def app(environ, start_response):
    marker = "builtin-breakpoint"
    breakpoint()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [marker.encode()]
