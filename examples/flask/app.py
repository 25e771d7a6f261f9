"""The hindsight Flask example: the same endpoints and deliberate bugs as the
Django example, in one file.

Run it with ``gunicorn app:app`` (the module-level ``app``) or through the
factory, ``gunicorn 'app:create_app()'``.

Several views contain a DELIBERATE bug (marked so below): hindsight records
the failing request and later replays it under a debugger, so these bugs must
stay. Flask is not in debug mode, so each one answers a plain 500 and the
traceback goes to stderr.

Environment variables:
  HINDSIGHT_EXAMPLE_FLASK_DB  path of the SQLite database. Default: example.sqlite3
                              next to this file, or in the temp directory when this
                              directory is not writable (e.g. on Platform.sh after the
                              build). Created on startup.
"""
import hashlib
import html
import json
import os
import sqlite3
import tempfile
import time

from flask import Flask, Response, g, jsonify, request, session

HERE = os.path.dirname(os.path.abspath(__file__))

# A fixed, public, development-only key that signs the session cookie. This
# app exists to demonstrate bugs; never reuse the key for anything real.
DEV_SECRET_KEY = "hindsight-example-flask-dev-only-not-secret"


def default_db_path():
    if os.access(HERE, os.W_OK):
        return os.path.join(HERE, "example.sqlite3")
    return os.path.join(tempfile.gettempdir(), "hindsight-example-flask.sqlite3")


# --- database ----------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS members (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,   -- what /signup/ trips over
    joined_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    price_cents INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
"""

# "admin" makes POST /signup/ username=admin fail every time; the items make
# /api/items/1/ exist. INSERT OR IGNORE keeps this idempotent across restarts.
SEED = """
INSERT OR IGNORE INTO members (id, username) VALUES (1, 'admin');
INSERT OR IGNORE INTO items (id, name, price_cents) VALUES (1, 'Widget', 1250);
INSERT OR IGNORE INTO items (id, name, price_cents) VALUES (2, 'Gadget', 4999);
INSERT OR IGNORE INTO items (id, name, price_cents) VALUES (3, 'Gizmo', 799);
"""


def connect(path):
    # timeout: several gunicorn workers share the file; wait for locks.
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def init_db(path):
    """Create tables and seed rows. Safe when every worker runs it at once:
    BEGIN IMMEDIATE takes SQLite's write lock for the whole script."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    conn = connect(path)
    try:
        conn.executescript("BEGIN IMMEDIATE;" + SCHEMA + SEED + "COMMIT;")
    finally:
        conn.close()


def get_db():
    if "db" not in g:
        g.db = connect(g.db_path)
    return g.db


# --- order pricing (/orders/<id>/total/) ---------------------------------------
#
# DELIBERATE BUG: every order gets a free "GIFT-WRAP" line (a promotion added
# to load_order), but GIFT-WRAP was never added to PRICE_LIST_CENTS. The
# lookup is three calls deep (order_total -> line_total -> unit_price), so the
# useful state (order, line, region, running total) is in the frames' locals.

PRICE_LIST_CENTS = {"WIDGET": 1250, "GADGET": 4999, "GIZMO": 799}
VAT_RATES = {"eu": 0.20, "uk": 0.20, "us": 0.0}
REGIONS = ("eu", "uk", "us")


def load_order(order_id):
    """Stand-in for a database lookup: a deterministic order for any id."""
    return {
        "id": order_id,
        "customer": "customer-%d" % (order_id % 7),
        "region": REGIONS[order_id % len(REGIONS)],
        "lines": [
            {"sku": "WIDGET", "quantity": 1 + order_id % 3},
            {"sku": "GADGET", "quantity": 1},
            {"sku": "GIFT-WRAP", "quantity": 1, "promo": "free-gift-wrap"},  # the bug
        ],
    }


def unit_price(sku, region):
    base_cents = PRICE_LIST_CENTS[sku]  # KeyError for "GIFT-WRAP"
    vat_rate = VAT_RATES[region]
    return round(base_cents * (1 + vat_rate))


def line_total(line, region):
    quantity = line["quantity"]
    price = unit_price(line["sku"], region)
    return price * quantity


def order_total(order):
    running_total = 0
    for position, line in enumerate(order["lines"], start=1):
        running_total += line_total(line, order["region"])
    return {"order": order["id"], "lines": position, "total_cents": running_total}


# --- helpers -------------------------------------------------------------------

def _discount_percent(list_price_cents, sale_price_cents):
    saved = list_price_cents - sale_price_cents
    # DELIBERATE BUG: a free item (list price 0) divides by zero.
    return 100 * saved / list_price_cents


def _check_upload_name(name):
    # DELIBERATE BUG: the check raises ValueError and the view never catches
    # it, so a rejected file gives a 500 instead of a 400.
    if name.lower().endswith(".exe"):
        raise ValueError("executable uploads are not allowed: %r" % name)


def _number(name, default, low, high, kind=float):
    """Query parameter ``name`` as a number clamped to [low, high]; None if malformed."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        return None
    if value != value:  # NaN
        return None
    return max(low, min(high, value))


def _json_value(value):
    if isinstance(value, (str, int, bool, tuple)):  # bool is an int; listed for clarity
        return value
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else "%s.%s" % (cls.__module__, cls.__qualname__)


def read_wsgi_input(environ):
    """The whole request body, read from wsgi.input itself (not via werkzeug)."""
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


def _text(body, status=200):
    return Response(body, status=status, mimetype="text/plain")


# (method, URL shown on the index, what it does). Listed on "/".
ENDPOINTS = [
    ("GET", "/boom/", "Computes a discount percentage and divides by zero (ZeroDivisionError, 500)."),
    ("GET", "/orders/1/total/", "Totals an order; a KeyError three helper calls deep (500 for any id)."),
    ("GET/POST", "/signup/", "POST a username to create a member; a taken one (always \"admin\") raises sqlite3.IntegrityError (500)."),
    ("GET", "/slow/?seconds=2", "Sleeps N seconds (default 2, at most 600), then answers 200."),
    ("GET", "/stream/?chunks=5", "Streams N lines (default 5) with a short pause between them."),
    ("GET/POST", "/upload/", "POST a file (multipart or raw body); answers its size and sha256; a name ending in .exe raises ValueError (500)."),
    ("GET/POST", "/api/items/", "JSON API: GET lists items, POST creates one; a body that is not JSON raises JSONDecodeError (500)."),
    ("GET", "/api/items/1/", "One item as JSON; an unknown id raises TypeError (the missing-row check was forgotten, 500)."),
    ("GET", "/session/", "Counts your visits in the session cookie; ?reset=1 deletes a key that is not there (KeyError, 500)."),
    ("ANY", "/environ/", "Echoes the WSGI environ as JSON, with the request body under \"body\"."),
    ("GET", "/health/", "Answers 200 \"ok\"."),
]

SIGNUP_FORM = """<!doctype html>
<title>Sign up</title>
<form method="post" action="/signup/">
  <label>Username <input name="username" required></label>
  <button>Sign up</button>
</form>
"""

UPLOAD_FORM = """<!doctype html>
<title>Upload</title>
<form method="post" action="/upload/" enctype="multipart/form-data">
  <input type="file" name="file" required>
  <button>Upload</button>
</form>
"""

CHUNK_SIZE = 64 * 1024


# --- the application -------------------------------------------------------------

def create_app(db_path=None):
    app = Flask(__name__)
    app.secret_key = DEV_SECRET_KEY
    db_path = db_path or os.environ.get("HINDSIGHT_EXAMPLE_FLASK_DB") or default_db_path()
    app.config["DB_PATH"] = db_path
    init_db(db_path)

    @app.before_request
    def _remember_db_path():
        g.db_path = app.config["DB_PATH"]

    @app.teardown_appcontext
    def _close_db(exc):
        db = g.pop("db", None)
        if db is not None:
            db.close()

    @app.route("/")
    def index():
        rows = "\n".join(
            '    <tr><td>%s</td><td><a href="%s">%s</a></td><td>%s</td></tr>'
            % (html.escape(method), html.escape(url), html.escape(url), html.escape(text))
            for method, url, text in ENDPOINTS
        )
        page = (
            "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">"
            "<title>hindsight Flask example</title></head>\n<body>\n"
            "  <h1>hindsight Flask example</h1>\n"
            "  <p>A small app with deliberate bugs for hindsight to record and replay. "
            "Endpoints marked 500 fail on purpose.</p>\n"
            "  <table>\n    <tr><th>Method</th><th>Endpoint</th><th>What it does</th></tr>\n"
            + rows
            + "\n  </table>\n</body>\n</html>\n"
        )
        return Response(page, mimetype="text/html")

    @app.route("/health/")
    def health():
        return _text("ok")

    @app.route("/boom/")
    def boom():
        cart = [
            {"sku": "WIDGET", "list_price_cents": 1250, "sale_price_cents": 999},
            {"sku": "SAMPLE", "list_price_cents": 0, "sale_price_cents": 0},  # the free sample
        ]
        discounts = {line["sku"]: _discount_percent(line["list_price_cents"], line["sale_price_cents"]) for line in cart}
        return jsonify(discounts=discounts)

    @app.route("/orders/<int:order_id>/total/")
    def orders_total(order_id):
        order = load_order(order_id)
        # DELIBERATE BUG inside: KeyError: 'GIFT-WRAP' (see "order pricing" above).
        return jsonify(order_total(order))

    @app.route("/signup/", methods=["GET", "POST"])
    def signup():
        if request.method == "GET":
            return Response(SIGNUP_FORM, mimetype="text/html")
        if request.mimetype == "application/json":
            try:
                data = json.loads(request.get_data() or b"{}")
            except ValueError:
                return _text("body is not JSON\n", 400)
            username = data.get("username") if isinstance(data, dict) else None
        else:
            username = request.form.get("username")
        if not isinstance(username, str) or not username.strip():
            return _text("username is required\n", 400)
        username = username.strip()
        db = get_db()
        # DELIBERATE BUG: no "is this name taken?" check and no try/except, so a
        # second signup with the same name (and always "admin", seeded above)
        # raises sqlite3.IntegrityError: UNIQUE constraint failed.
        cursor = db.execute("INSERT INTO members (username) VALUES (?)", (username,))
        return jsonify(id=cursor.lastrowid, username=username)

    @app.route("/slow/")
    def slow():
        # Not a bug: a slow endpoint for timeouts, draining and in-flight tests.
        # gunicorn's default --timeout (30 s) kills longer sleeps; raise it to use more.
        seconds = _number("seconds", 2.0, 0.0, 600.0)
        if seconds is None:
            return _text("seconds must be a number\n", 400)
        time.sleep(seconds)
        return _text("slept %g seconds\n" % seconds)

    @app.route("/stream/")
    def stream():
        # Not a bug: a chunked response, written piece by piece.
        chunks = _number("chunks", 5, 0, 100000, kind=int)
        delay = _number("delay", 0.1, 0.0, 10.0)
        if chunks is None or delay is None:
            return _text("chunks must be an integer and delay a number\n", 400)

        def lines():
            for n in range(1, chunks + 1):
                if n > 1:
                    time.sleep(delay)
                yield "line %d of %d\n" % (n, chunks)

        return Response(lines(), mimetype="text/plain")

    @app.route("/upload/", methods=["GET", "POST"])
    def upload():
        if request.method == "GET":
            return Response(UPLOAD_FORM, mimetype="text/html")
        if request.mimetype == "multipart/form-data":
            upload_file = request.files.get("file") or next(iter(request.files.values()), None)
            if upload_file is None:
                return _text("no file in the form (use field name \"file\")\n", 400)
            name = upload_file.filename or "upload.bin"
            chunks = iter(lambda: upload_file.stream.read(CHUNK_SIZE), b"")
        else:
            # Raw body: the name comes from ?name= or an X-Filename header.
            name = request.args.get("name") or request.headers.get("X-Filename") or "body.bin"
            chunks = iter(lambda: request.stream.read(CHUNK_SIZE), b"")

        size = 0
        digest = hashlib.sha256()
        for chunk in chunks:
            size += len(chunk)
            digest.update(chunk)

        _check_upload_name(name)  # raises for *.exe (see above)
        return jsonify(name=name, size=size, sha256=digest.hexdigest())

    @app.route("/api/items/", methods=["GET", "POST"])
    def api_items():
        db = get_db()
        if request.method == "GET":
            rows = db.execute("SELECT id, name, price_cents FROM items ORDER BY id").fetchall()
            return jsonify(items=[dict(row) for row in rows])
        # DELIBERATE BUG: the body is parsed without a try/except, so malformed
        # JSON raises json.JSONDecodeError and the client gets a 500, not a 400.
        # (request.get_json() would have answered 400 by itself.)
        data = json.loads(request.get_data())
        if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"].strip():
            return jsonify(error="a JSON object with a non-empty \"name\" is required"), 400
        price_cents = data.get("price_cents", 0)
        if not isinstance(price_cents, int) or isinstance(price_cents, bool):
            return jsonify(error="\"price_cents\" must be an integer"), 400
        name = data["name"].strip()
        cursor = db.execute("INSERT INTO items (name, price_cents) VALUES (?, ?)", (name, price_cents))
        return jsonify(id=cursor.lastrowid, name=name, price_cents=price_cents), 201

    @app.route("/api/items/<int:item_id>/")
    def api_item(item_id):
        row = get_db().execute("SELECT id, name, price_cents FROM items WHERE id = ?", (item_id,)).fetchone()
        # DELIBERATE BUG: no "if row is None: abort(404)", so an unknown id
        # fails on the next line with TypeError ('NoneType' object is not
        # subscriptable), a 500 instead of a 404.
        return jsonify(id=row["id"], name=row["name"], price_cents=row["price_cents"])

    @app.route("/session/")
    def session_view():
        if request.args.get("reset"):
            # DELIBERATE BUG: the counter was renamed from "visit_count" to
            # "visits" but the reset branch still deletes the old key, which no
            # session has any more: KeyError, 500.
            del session["visit_count"]
        visits = session.get("visits", 0) + 1
        session["visits"] = visits
        return jsonify(visits=visits)

    @app.route("/environ/", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    def environ_view():
        # Not a bug: shows what the app received, to compare a live request with
        # its replay. Values that JSON cannot carry are replaced by their type name.
        environ = request.environ
        body = read_wsgi_input(environ)
        result = {key: _json_value(value) for key, value in environ.items()}
        result["body"] = body.decode("latin-1")
        return Response(
            json.dumps(result, indent=2, sort_keys=True, default=_json_value),
            mimetype="application/json",
        )

    return app


# gunicorn app:app
app = create_app()

if __name__ == "__main__":
    # Flask's development server, for a quick look without gunicorn.
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "9001")))
