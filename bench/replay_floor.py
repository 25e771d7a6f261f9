# bench/replay_floor.py — the floor for bench/replay.sh, run as
#   /usr/bin/python3 -c "$(cat bench/replay_floor.py)" CHDIR APP ENVIRON.json TIMES.out
# Imports the WSGI app the way gunicorn does (chdir, sys.path[0] = CHDIR, import the
# module; myapp.wsgi sets DJANGO_SETTINGS_MODULE itself), builds the environ from the
# capture (`hindsight show ID --json`, reduced to ENVIRON.json by bench/replay.sh),
# calls application(environ, start_response) once and consumes the body.
# Appends "import_ms call_ms status" to TIMES.out (in-process phases).
import sys, os, time
t0 = time.perf_counter()
chdir, spec, env_path, out_path = sys.argv[1:5]
os.chdir(chdir)
sys.path.insert(0, chdir)
import io, json, importlib
mod, _, attr = spec.partition(":")
application = getattr(importlib.import_module(mod), attr or "application")
t1 = time.perf_counter()
cap = json.load(open(env_path))
req = cap["request"]
target = req["target"]
path, _, query = target.partition("?")
from urllib.parse import unquote
import base64
body = base64.b64decode(req.get("body_base64") or "")
host = cap.get("host") or "localhost"
hname, _, hport = host.rpartition(":") if ":" in host else (host, "", "80")
environ = {
    "REQUEST_METHOD": req["method"], "SCRIPT_NAME": "",
    "PATH_INFO": unquote(path, "latin-1"), "QUERY_STRING": query, "RAW_URI": target,
    "SERVER_PROTOCOL": req["version"], "SERVER_NAME": hname, "SERVER_PORT": hport,
    "REMOTE_ADDR": cap.get("client") or "127.0.0.1", "REMOTE_PORT": "0",
    "SERVER_SOFTWARE": "gunicorn/20.1.0",
    "wsgi.version": (1, 0), "wsgi.url_scheme": cap.get("scheme") or "http",
    "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
    "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
    "wsgi.file_wrapper": None, "wsgi.input_terminated": True,
}
for name, value in req["headers"]:
    key = name.upper().replace("-", "_")
    if key == "CONTENT_TYPE" or key == "CONTENT_LENGTH":
        environ[key] = value
    else:
        k = "HTTP_" + key
        environ[k] = environ[k] + "," + value if k in environ else value
if body and "CONTENT_LENGTH" not in environ:
    environ["CONTENT_LENGTH"] = str(len(body))
status = []
def start_response(s, headers, exc_info=None):
    status.append(s)
    return lambda data: None
result = application(environ, start_response)
n = 0
try:
    for chunk in result:
        n += len(chunk)
finally:
    if hasattr(result, "close"):
        result.close()
t2 = time.perf_counter()
with open(out_path, "a") as f:
    f.write("%.3f %.3f %s\n" % ((t1 - t0) * 1000, (t2 - t1) * 1000, status[0].split()[0]))
