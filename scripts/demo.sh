#!/usr/bin/env bash
# `make demo`: hindsight in front of gunicorn serving the example Django app on
# 127.0.0.1:8000, as `hindsight run` would wrap the start command on Platform.sh.
set -euo pipefail
bin=${1:-build/hindsight}
here=$(cd "$(dirname "$0")/.." && pwd)
port=${DEMO_PORT:-8000}

cat <<MSG

  hindsight is starting in front of the example Django app (gunicorn, 2 workers).

    open   http://127.0.0.1:${port}/          the example app, through hindsight
           http://127.0.0.1:${port}/boom/     a view that raises (500)
           http://127.0.0.1:${port}/orders/7/total/   a KeyError deep in a helper
    data   ${here}/.hindsight

  Failing requests are captured. In another terminal:

    ${bin} list   --data ${here}/.hindsight          the failures, newest first
    ${bin} list   --data ${here}/.hindsight --groups grouped by route and status
    ${bin} show 1 --data ${here}/.hindsight          one of them, request and response
    ${bin} status --data ${here}/.hindsight          the proxy and the store
    ${bin} replay 1 --data ${here}/.hindsight        run it again: response and traceback
    ${bin} replay 1 --data ${here}/.hindsight --pdb  ... stopped in pdb in the view
    ${bin} export 1 --data ${here}/.hindsight --format curl   as a curl command line

  Live: stop a request as it arrives, in pdb, while everyone else is served:

    ${bin} rules add --data ${here}/.hindsight --query pdb=1 --do pdb
    ${bin} token     --data ${here}/.hindsight             prints a link with your debug token
    ${bin} attach    --data ${here}/.hindsight             then open that link with &pdb=1 added

    stop   Ctrl-C (in-flight requests finish, then the app is stopped)

MSG
# gunicorn's -b names the public address, as "\$SOCKET" or "\$PORT" expanded by a
# shell would; hindsight rewrites it to its inner socket.
exec "$bin" run --listen "127.0.0.1:${port}" --data "${here}/.hindsight" -- \
  /usr/bin/gunicorn --chdir "${here}/examples/django" -w 2 -b "127.0.0.1:${port}" myapp.wsgi:application
