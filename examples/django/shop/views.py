"""Views of the hindsight Django example.

Several views contain a DELIBERATE bug (marked so below): hindsight records
the failing request and later replays it under a debugger, so these bugs must
stay. With DEBUG off (the default) each one answers a plain 500.
"""
import hashlib
import json
import time

from django.http import (
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from shop import orders
from shop.models import Item, Member

# (method, URL shown on the index, what it does). Listed on "/".
ENDPOINTS = [
    ("GET", "/boom/", "Computes a discount percentage and divides by zero (ZeroDivisionError, 500)."),
    ("GET", "/orders/1/total/", "Totals an order; a KeyError three helper calls deep (500 for any id)."),
    ("GET/POST", "/signup/", "POST a username to create a member; a taken one (always \"admin\") raises IntegrityError (500)."),
    ("GET", "/slow/?seconds=2", "Sleeps N seconds (default 2, at most 600), then answers 200."),
    ("GET", "/stream/?chunks=5", "Streams N lines (default 5) with a short pause between them."),
    ("GET/POST", "/upload/", "POST a file (multipart or raw body); answers its size and sha256; a name ending in .exe raises ValueError (500)."),
    ("GET/POST", "/api/items/", "JSON API: GET lists items, POST creates one; a body that is not JSON raises JSONDecodeError (500)."),
    ("GET", "/api/items/1/", "One item as JSON; an unknown id raises Item.DoesNotExist (500)."),
    ("GET", "/session/", "Counts your visits in the session cookie; ?reset=1 deletes a key that is not there (KeyError, 500)."),
    ("ANY", "/environ/", "Echoes the WSGI environ as JSON, with the request body under \"body\"."),
    ("GET", "/health/", "Answers 200 \"ok\"."),
]


def index(request):
    return render(request, "shop/index.html", {"endpoints": ENDPOINTS})


def health(request):
    return HttpResponse("ok", content_type="text/plain; charset=utf-8")


# --- /boom/ -----------------------------------------------------------------

def _discount_percent(list_price_cents, sale_price_cents):
    saved = list_price_cents - sale_price_cents
    # DELIBERATE BUG: a free item (list price 0) divides by zero.
    return 100 * saved / list_price_cents


def boom(request):
    cart = [
        {"sku": "WIDGET", "list_price_cents": 1250, "sale_price_cents": 999},
        {"sku": "SAMPLE", "list_price_cents": 0, "sale_price_cents": 0},  # the free sample
    ]
    discounts = {line["sku"]: _discount_percent(line["list_price_cents"], line["sale_price_cents"]) for line in cart}
    return JsonResponse({"discounts": discounts})


# --- /orders/<id>/total/ -----------------------------------------------------

def order_total(request, order_id):
    order = orders.load_order(order_id)
    # DELIBERATE BUG inside: see shop/orders.py (KeyError: 'GIFT-WRAP').
    return JsonResponse(orders.order_total(order))


# --- /signup/ ------------------------------------------------------------------

SIGNUP_FORM = """<!doctype html>
<title>Sign up</title>
<form method="post" action="/signup/">
  <label>Username <input name="username" required></label>
  <button>Sign up</button>
</form>
"""


@csrf_exempt
def signup(request):
    if request.method == "GET":
        return HttpResponse(SIGNUP_FORM)
    if request.method != "POST":
        return HttpResponseNotAllowed(["GET", "POST"])
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            return HttpResponseBadRequest("body is not JSON\n")
        username = data.get("username") if isinstance(data, dict) else None
    else:
        username = request.POST.get("username")
    if not isinstance(username, str) or not username.strip():
        return HttpResponseBadRequest("username is required\n")
    username = username.strip()
    # DELIBERATE BUG: no "is this name taken?" check and no try/except, so a
    # second signup with the same name (and always "admin", seeded by the
    # migration) raises django.db.IntegrityError: UNIQUE constraint failed.
    member = Member.objects.create(username=username)
    return JsonResponse({"id": member.id, "username": member.username})


# --- /slow/ and /stream/ -------------------------------------------------------

def _number(request, name, default, low, high, kind=float):
    """Query parameter ``name`` as a number clamped to [low, high]; None if malformed."""
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        return None
    if value != value:  # NaN
        return None
    return max(low, min(high, value))


def slow(request):
    # Not a bug: a slow endpoint for timeouts, draining and in-flight tests.
    # gunicorn's default --timeout (30 s) kills longer sleeps; raise it to use more.
    seconds = _number(request, "seconds", 2.0, 0.0, 600.0)
    if seconds is None:
        return HttpResponseBadRequest("seconds must be a number\n")
    time.sleep(seconds)
    return HttpResponse("slept %g seconds\n" % seconds, content_type="text/plain; charset=utf-8")


def stream(request):
    # Not a bug: a chunked response, written piece by piece.
    chunks = _number(request, "chunks", 5, 0, 100000, kind=int)
    delay = _number(request, "delay", 0.1, 0.0, 10.0)
    if chunks is None or delay is None:
        return HttpResponseBadRequest("chunks must be an integer and delay a number\n")

    def lines():
        for n in range(1, chunks + 1):
            if n > 1:
                time.sleep(delay)
            yield "line %d of %d\n" % (n, chunks)

    return StreamingHttpResponse(lines(), content_type="text/plain; charset=utf-8")


# --- /upload/ ------------------------------------------------------------------

UPLOAD_FORM = """<!doctype html>
<title>Upload</title>
<form method="post" action="/upload/" enctype="multipart/form-data">
  <input type="file" name="file" required>
  <button>Upload</button>
</form>
"""

CHUNK_SIZE = 64 * 1024


def _check_upload_name(name):
    # DELIBERATE BUG: the check raises ValueError and the view never catches
    # it, so a rejected file gives a 500 instead of a 400.
    if name.lower().endswith(".exe"):
        raise ValueError("executable uploads are not allowed: %r" % name)


@csrf_exempt
def upload(request):
    if request.method == "GET":
        return HttpResponse(UPLOAD_FORM)
    if request.method != "POST":
        return HttpResponseNotAllowed(["GET", "POST"])

    if request.content_type == "multipart/form-data":
        upload_file = request.FILES.get("file") or next(iter(request.FILES.values()), None)
        if upload_file is None:
            return HttpResponseBadRequest("no file in the form (use field name \"file\")\n")
        name = upload_file.name
        chunks = upload_file.chunks(CHUNK_SIZE)
    else:
        # Raw body: the name comes from ?name= or an X-Filename header.
        name = request.GET.get("name") or request.headers.get("X-Filename") or "body.bin"
        chunks = iter(lambda: request.read(CHUNK_SIZE), b"")

    size = 0
    digest = hashlib.sha256()
    for chunk in chunks:
        size += len(chunk)
        digest.update(chunk)

    _check_upload_name(name)  # raises for *.exe (see above)
    return JsonResponse({"name": name, "size": size, "sha256": digest.hexdigest()})


# --- /api/items/ ---------------------------------------------------------------

@csrf_exempt
def api_items(request):
    if request.method == "GET":
        return JsonResponse({"items": [item.as_dict() for item in Item.objects.order_by("id")]})
    if request.method != "POST":
        return HttpResponseNotAllowed(["GET", "POST"])
    # DELIBERATE BUG: the body is parsed without a try/except, so malformed
    # JSON raises json.JSONDecodeError and the client gets a 500, not a 400.
    data = json.loads(request.body)
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"].strip():
        return JsonResponse({"error": "a JSON object with a non-empty \"name\" is required"}, status=400)
    price_cents = data.get("price_cents", 0)
    if not isinstance(price_cents, int) or isinstance(price_cents, bool):
        return JsonResponse({"error": "\"price_cents\" must be an integer"}, status=400)
    item = Item.objects.create(name=data["name"].strip(), price_cents=price_cents)
    return JsonResponse(item.as_dict(), status=201)


def api_item(request, item_id):
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    # DELIBERATE BUG: .get() instead of get_object_or_404(), so an unknown id
    # raises Item.DoesNotExist (a 500) instead of answering 404.
    item = Item.objects.get(pk=item_id)
    return JsonResponse(item.as_dict())


# --- /session/ -----------------------------------------------------------------

def session_view(request):
    if request.GET.get("reset"):
        # DELIBERATE BUG: the counter was renamed from "visit_count" to
        # "visits" but the reset branch still deletes the old key, which no
        # session has any more: KeyError, 500.
        del request.session["visit_count"]
    visits = request.session.get("visits", 0) + 1
    request.session["visits"] = visits
    return JsonResponse({"visits": visits})


# --- /environ/ -----------------------------------------------------------------

def _json_value(value):
    if isinstance(value, (str, int, bool, tuple)):  # bool is an int; listed for clarity
        return value
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else "%s.%s" % (cls.__module__, cls.__qualname__)


def read_wsgi_input(environ):
    """The whole request body, read from wsgi.input itself (not via Django)."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH")
    if length:
        try:
            return stream.read(int(length))
        except ValueError:
            pass
    # No Content-Length (e.g. chunked): gunicorn's wsgi.input ends at the end of the body.
    return stream.read()


@csrf_exempt
def environ_view(request):
    # Not a bug: shows what the app received, to compare a live request with
    # its replay. Values that JSON cannot carry are replaced by their type name.
    environ = request.environ
    body = read_wsgi_input(environ)
    result = {key: _json_value(value) for key, value in environ.items()}
    result["body"] = body.decode("latin-1")
    return HttpResponse(
        json.dumps(result, indent=2, sort_keys=True, default=_json_value),
        content_type="application/json",
    )
