#!/usr/bin/env bash
# bench/run.sh — hindsight vs nginx vs direct, side by side, in one run.
#
#   bash bench/run.sh [PATH/TO/hindsight]          (make bench does this)
#
# What it measures (all on 127.0.0.1 / unix sockets, nothing outside a temp dir):
#   * a fast upstream: nginx, 1 worker, on a unix socket (and 127.0.0.1 TCP for the
#     direct row), /small = `return 200` with a 100-byte body, /large = a static
#     64 KiB file;
#   * three targets in front of it, each loaded with wrk:
#       direct     wrk -> upstream (TCP listener of the same server block)
#       nginx      wrk -> nginx proxy_pass (worker_processes N, keep-alive pool of 64)
#       hindsight  wrk -> hindsight run --upstream unix:... --threads N
#   * at N = 1 and N = 2 threads/workers, small and large responses;
#   * RSS of hindsight (VmRSS) and of the nginx proxy (master + workers, summed)
#     with 1,000 idle keep-alive connections open (bench/idle_conns.py).
#
# Method — a shared VM's speed drifts by tens of percent from one run to the next,
# so one sample per target would give random verdicts:
#   * per (N, size): one warm-up per target (not reported), then BENCH_ROUNDS
#     interleaved rounds; a round measures direct, then nginx and hindsight, once
#     each for BENCH_DURATION — nginx first in odd rounds, hindsight first in even
#     ones — so drift hits nginx and hindsight alike;
#   * per target: the median over the rounds of requests/s, p50 and p99;
#   * ratios are taken per round (hindsight and nginx/direct of the same round) and
#     the median of the per-round ratios is reported; for hindsight/nginx
#     requests/s (and CPU per request) also the min–max range over the rounds, so
#     the reader sees how noisy the run was.  The verdicts use the medians;
#   * CPU per request, which depends less on scheduling than throughput: utime +
#     stime (/proc/PID/stat fields 14 + 15, clock ticks of 1/`getconf CLK_TCK` s)
#     of the proxy's processes (nginx: master + workers; hindsight: its one
#     process), read just before and after each wrk run, divided by the requests
#     wrk completed, in µs.  Reported as the median over rounds, and as the median
#     of the per-round ratio nginx/hindsight (> 1: hindsight is cheaper).
#
# CPU placement (2-core machine): wrk always runs on CPU 0.  For N=1 the upstream
# and the proxy under test share CPU 1.  For N=2 the upstream and the proxies are
# not pinned (they may use both cores, and so compete with wrk on CPU 0); the
# output says so.  On a 1-CPU machine nothing is pinned.
#
# Environment:
#   BENCH_ROUNDS       interleaved rounds per (N, size)       (default 9)
#   BENCH_DURATION     wrk duration per measurement           (default 2s)
#   BENCH_CONNECTIONS  wrk connections                        (default 50)
#   BENCH_WARMUP       wrk warm-up per target and (N, size), not reported (default 2s)
#   BENCH_WRK_THREADS  wrk threads                            (default 1)
#   BENCH_THREADS      the N values to run                    (default "1 2")
#   BENCH_IDLE_CONNECTIONS  idle connections for the RSS rows (default 1000)
#   BENCH_KEEP_TMP=1   keep the temp dir (configs, logs, every wrk output)
#
# With the defaults a run takes about 5 minutes: per (N, size) 3 x 2 s warm-up +
# 9 rounds x 3 targets x 2 s.  (Nine short rounds rather than five long ones: on a
# shared VM the speed changes within seconds, and a median over more pairs of
# neighbouring measurements is steadier.)
#
# The report also says how much CPU other processes used during the run (machine
# busy time from /proc/stat minus this script's children's CPU time); above 5 % it
# prints a WARNING: the numbers are then disturbed (compare rows of one run only).
#
# Needs only: bash, nginx, wrk, taskset, /usr/bin/python3 (standard library).
# The system nginx configuration is never read or touched: every nginx here runs
# with its own prefix, config, pid and logs inside the temp dir, in the foreground.
#
# Exit status: 0 when the report was produced (whether or not the targets were
# met, and also when no hindsight binary was given/found: its rows read "n/a");
# 1 when the benchmark itself could not run (missing tool, upstream or nginx
# failed to start, wrk failed on a direct/nginx row); 3 when a hindsight binary
# exists but could not be measured (failed to start, crashed, wrong answers) —
# the table is still printed.

set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
HS_BIN=${1:-}
ROUNDS=${BENCH_ROUNDS:-9}
DURATION=${BENCH_DURATION:-2s}
CONNS=${BENCH_CONNECTIONS:-50}
WARMUP=${BENCH_WARMUP:-2s}
WRK_THREADS=${BENCH_WRK_THREADS:-1}
THREADS_LIST=${BENCH_THREADS:-"1 2"}
IDLE_CONNS=${BENCH_IDLE_CONNECTIONS:-1000}
PY=/usr/bin/python3
SMALL_SIZE=100
LARGE_SIZE=65536
READY_TIMEOUT=30

# Targets from the issue.
TARGET_RPS_RATIO=1.10
TARGET_RSS_MIB=50


for tool in nginx wrk taskset; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (apt-get install nginx wrk util-linux)"
done
[ -x "$PY" ] || die "$PY not found"
case $ROUNDS in ''|*[!0-9]*|0) die "BENCH_ROUNDS must be a positive integer (got '$ROUNDS')" ;; esac
HZ=$(getconf CLK_TCK) || die "getconf CLK_TCK failed"

# --- hindsight binary: optional ------------------------------------------------
HS_AVAILABLE=0
HS_NOTE=""
if [ -z "$HS_BIN" ]; then
    HS_NOTE="no hindsight binary given (usage: bench/run.sh PATH/TO/hindsight)"
elif [ ! -x "$HS_BIN" ]; then
    HS_NOTE="hindsight binary '$HS_BIN' not found or not executable"
else
    HS_BIN=$(cd "$(dirname "$HS_BIN")" && pwd)/$(basename "$HS_BIN")
    HS_AVAILABLE=1
fi
HS_FAILED=0          # set when the binary exists but a measurement of it failed

# --- limits, CPUs ---------------------------------------------------------------
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((IDLE_CONNS + 200)) ]; then
    die "open-file limit $(ulimit -n) too low for $IDLE_CONNS idle connections"
fi
NCPU=$(nproc)
PIN=1
[ "$NCPU" -ge 2 ] || PIN=0
WRK_PIN=()
[ "$PIN" = 1 ] && WRK_PIN=(taskset -c 0)

# --- temp dir and cleanup ---------------------------------------------------------
make_tmp hindsight-bench

# --- helpers -----------------------------------------------------------------------
free_ports() {    # print $1 distinct free TCP ports on 127.0.0.1
    "$PY" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# check_http ADDR PATH LEN: one GET; 0 if status 200 and a body of LEN bytes.
# ADDR is host:port or unix:/path.
check_http() {
    "$PY" - "$1" "$2" "$3" <<'EOF' 2>/dev/null
import http.client, socket, sys
addr, path, length = sys.argv[1], sys.argv[2], int(sys.argv[3])
class UnixConn(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=3); self.unix_path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX); self.sock.settimeout(3)
        self.sock.connect(self.unix_path)
if addr.startswith("unix:"):
    c = UnixConn(addr[5:])
else:
    host, port = addr.rsplit(":", 1); c = http.client.HTTPConnection(host, int(port), timeout=3)
c.request("GET", path)
r = c.getresponse(); body = r.read()
sys.exit(0 if r.status == 200 and len(body) == length else 1)
EOF
}


start_nginx() {   # start_nginx NAME CONF PREFIX CPUS -> sets NGINX_PID
    local name=$1 conf=$2 prefix=$3 cpus=$4 pre=()
    [ -n "$cpus" ] && pre=(taskset -c "$cpus")
    nginx -t -p "$prefix/" -e "$prefix/$name-error.log" -c "$conf" -g 'daemon off;' \
        >"$prefix/$name-test.out" 2>&1 || { cat "$prefix/$name-test.out" >&2; die "$name: nginx -t failed"; }
    "${pre[@]}" nginx -p "$prefix/" -e "$prefix/$name-error.log" -c "$conf" -g 'daemon off;' \
        >"$prefix/$name.out" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
}

wait_http() {     # wait_http PID ADDR PATH LEN WHAT
    local i
    for i in $(seq 100); do
        kill -0 "$1" 2>/dev/null || return 1
        check_http "$2" "$3" "$4" && return 0
        sleep 0.1
    done
    return 1
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

rss_tree_kib() {  # VmRSS of $1 plus its direct children (nginx master + workers)
    local total p
    total=$(rss_kib "$1")
    for p in $(children_of "$1"); do total=$((total + $(rss_kib "$p"))); done
    echo "$total"
}

# run_wrk DURATION OUTFILE URL: one wrk run; 0 if wrk ran.
run_wrk() {
    "${WRK_PIN[@]}" wrk -t"$WRK_THREADS" -c"$CONNS" -d"$1" --latency "$3" >"$2" 2>&1
}

# tree_ticks PID: utime + stime (clock ticks; /proc/PID/stat fields 14 + 15) of PID
# and its direct children (nginx: master + workers; hindsight: its one process —
# the fields cover all of a process's threads).  One scan of /proc.
tree_ticks() {
    "$PY" - "$1" <<'EOF'
import os, sys
root, total = sys.argv[1], 0
for d in os.listdir("/proc"):
    if not d.isdigit():
        continue
    try:
        with open("/proc/%s/stat" % d) as f:
            st = f.read()
    except OSError:
        continue
    fields = st[st.rindex(")") + 2:].split()   # fields from 3 (state) on
    if d == root or fields[1] == root:          # field 4: ppid
        total += int(fields[11]) + int(fields[12])
print(total)
EOF
}



fmt_ms() { awk -v u="$1" 'BEGIN { printf "%.3f ms", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# --- fixtures ------------------------------------------------------------------------
mkdir -p "$TMP/www"
SMALL_BODY=$(head -c "$SMALL_SIZE" /dev/zero | tr '\0' 's')
head -c "$LARGE_SIZE" /dev/zero | tr '\0' 'L' >"$TMP/www/large"
NGINX_USER=""
[ "$(id -u)" = 0 ] && NGINX_USER="user root;"   # workers must reach sockets in $TMP

declare -A RPS P50 P99 CPU ERRS NOTE RSS_IDLE RSS_CONN NGX_RSS_IDLE NGX_RSS_CONN
SIZES="small large"
TARGETS="direct nginx hindsight"

size_len() { [ "$1" = small ] && echo "$SMALL_SIZE" || echo "$LARGE_SIZE"; }

target_port() {
    case $1 in
        direct) echo "$DIRECT_PORT" ;;
        nginx) echo "$NGINX_PORT" ;;
        hindsight) echo "$HS_PORT" ;;
    esac
}

# hs_fail KEY WHY: hindsight could not be measured (further) for this (N, size)
hs_fail() {
    [ -n "${NOTE[$1]:-}" ] || NOTE[$1]=$2
    HS_FAILED=1
    HS_OK=0
}

# measure TARGET ROUND: one wrk run of TARGET for the current N and size, with the
# CPU time of the proxy's processes around it; stores the round's numbers.
measure() {
    local target=$1 r=$2 key port root="" out t0="" t1="" res rps p50 p99 reqs errs cpu=""
    key="$N|$size|$target"
    port=$(target_port "$target")
    case $target in
        nginx) root=$NGX_PID ;;
        hindsight) root=$HS_PID ;;
    esac
    out=$PREFIX/wrk-$size-$target-r$r.txt
    [ -n "$root" ] && t0=$(tree_ticks "$root")
    if ! run_wrk "$DURATION" "$out" "http://127.0.0.1:$port/$size"; then
        cat "$out" >&2
        [ "$target" = hindsight ] || die "N=$N $size $target: wrk failed (round $r)"
        hs_fail "$key" "wrk failed in round $r"; return
    fi
    [ -n "$root" ] && t1=$(tree_ticks "$root")
    res=$(parse_wrk "$out")
    if [ "$res" = fail ]; then
        cat "$out" >&2
        [ "$target" = hindsight ] || die "N=$N $size $target: could not parse wrk output (round $r)"
        hs_fail "$key" "wrk output unparsable in round $r"; return
    fi
    read -r rps p50 p99 reqs _ socket_errs non2xx <<<"$res"
    errs=$((socket_errs + non2xx))
    RPS[$key|$r]=$rps; P50[$key|$r]=$p50; P99[$key|$r]=$p99
    ERRS[$key]=$(( ${ERRS[$key]:-0} + errs ))
    if [ -n "$root" ] && [ "${reqs:-0}" -gt 0 ]; then
        cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" -v n="$reqs" 'BEGIN { printf "%.6g", (b - a) / hz * 1e6 / n }')
        CPU[$key|$r]=$cpu
    fi
    note "  N=$N $size r$r/$ROUNDS $target: $rps req/s, p50 $(fmt_ms "$p50"), p99 $(fmt_ms "$p99"), $errs errors$([ -n "$cpu" ] && echo ", $(fmt_cpu "$cpu") CPU/req")"
    if [ "$target" = hindsight ] && ! kill -0 "$HS_PID" 2>/dev/null; then
        hs_fail "$key" "hindsight exited during round $r"
    fi
}

# measure_idle KEY PID-GETTER... : RSS with IDLE_CONNS idle keep-alive connections
# open_idle PORT -> sets IDLE_PID, returns 0 when all connections answered
open_idle() {
    local ready=$TMP/idle-$1.ready i
    rm -f "$ready"
    "$PY" "$HERE/idle_conns.py" 127.0.0.1 "$1" "$IDLE_CONNS" /small "$ready" \
        >"$TMP/idle-$1.out" 2>&1 &
    IDLE_PID=$!
    PIDS+=("$IDLE_PID")
    for i in $(seq 600); do
        [ -s "$ready" ] && break
        kill -0 "$IDLE_PID" 2>/dev/null || break
        sleep 0.1
    done
    if grep -q '^ok' "$ready" 2>/dev/null; then
        sleep 1      # let the server settle
        return 0
    fi
    IDLE_ERR=$(cat "$ready" 2>/dev/null || echo "timed out")
    return 1
}
close_idle() { stop_pid "$IDLE_PID"; forget_pid "$IDLE_PID"; }

# CPU time used by the whole machine (jiffies, USER_HZ) — compared at the end with
# what this script's own children used, to flag runs disturbed by other load.
echo "bench: results so far go to stderr; the report is printed at the end" >&2
START=$(date +%s)
BUSY0=$(cpu_busy_jiffies)
children_cpu_s >"$TMP/child0"; CHILD0=$(cat "$TMP/child0")

for N in $THREADS_LIST; do
    PREFIX=$TMP/n$N
    mkdir -p "$PREFIX/tmp" "$PREFIX/hs-data"
    SOCK=$PREFIX/up.sock
    read -r DIRECT_PORT NGINX_PORT HS_PORT <<<"$(free_ports 3)"
    SRV_CPUS=""
    [ "$PIN" = 1 ] && [ "$N" = 1 ] && SRV_CPUS=1

    # upstream
    render "$HERE/nginx-upstream.conf.in" "$PREFIX/upstream.conf" \
        USER="$NGINX_USER" PREFIX="$PREFIX" SOCKET="$SOCK" DIRECT_PORT="$DIRECT_PORT" \
        SMALL_BODY="$SMALL_BODY" WWW="$TMP/www"
    start_nginx upstream "$PREFIX/upstream.conf" "$PREFIX" "$SRV_CPUS"
    UP_PID=$NGINX_PID
    wait_http "$UP_PID" "unix:$SOCK" /small "$SMALL_SIZE" ||
        { cat "$PREFIX"/upstream*.log "$PREFIX/upstream.out" >&2; die "N=$N: upstream nginx did not start"; }
    check_http "127.0.0.1:$DIRECT_PORT" /large "$LARGE_SIZE" || die "N=$N: upstream /large wrong"

    # nginx proxy
    render "$HERE/nginx-proxy.conf.in" "$PREFIX/proxy.conf" \
        USER="$NGINX_USER" PREFIX="$PREFIX" SOCKET="$SOCK" PORT="$NGINX_PORT" WORKERS="$N"
    start_nginx proxy "$PREFIX/proxy.conf" "$PREFIX" "$SRV_CPUS"
    NGX_PID=$NGINX_PID
    wait_http "$NGX_PID" "127.0.0.1:$NGINX_PORT" /small "$SMALL_SIZE" ||
        { cat "$PREFIX"/proxy*.log "$PREFIX/proxy.out" >&2; die "N=$N: nginx proxy did not start"; }
    sleep 0.5
    NGX_RSS_IDLE[$N]=$(rss_tree_kib "$NGX_PID")

    # hindsight
    HS_PID=""
    HS_UP=0
    if [ "$HS_AVAILABLE" = 1 ]; then
        pre=()
        [ -n "$SRV_CPUS" ] && pre=(taskset -c "$SRV_CPUS")
        "${pre[@]}" "$HS_BIN" run --listen "127.0.0.1:$HS_PORT" --upstream "unix:$SOCK" \
            --threads "$N" --access-log off --data "$PREFIX/hs-data" \
            >"$PREFIX/hindsight.out" 2>"$PREFIX/hindsight.err" &
        HS_PID=$!
        PIDS+=("$HS_PID")
        for i in $(seq $((READY_TIMEOUT * 10))); do
            if grep -q 'ready:' "$PREFIX/hindsight.err"; then HS_UP=1; break; fi
            kill -0 "$HS_PID" 2>/dev/null || break
            sleep 0.1
        done
        if [ "$HS_UP" = 1 ] && ! check_http "127.0.0.1:$HS_PORT" /small "$SMALL_SIZE"; then
            note "N=$N: hindsight is ready but GET /small did not return the 100-byte body"
            HS_UP=0
        fi
        if [ "$HS_UP" = 0 ]; then
            HS_FAILED=1
            note "N=$N: hindsight did not become ready; its stderr:"
            tail -n 20 "$PREFIX/hindsight.err" >&2
            NOTE[$N,hs]="failed to start"
        else
            sleep 0.5
            RSS_IDLE[$N]=$(rss_kib "$HS_PID")
        fi
    fi

    # throughput / latency / CPU per request: a warm-up per target, then ROUNDS
    # interleaved rounds (direct, then nginx and hindsight in alternating order)
    for size in $SIZES; do
        len=$(size_len "$size")
        HS_OK=0                    # hindsight still measurable for this (N, size)
        for target in $TARGETS; do
            key="$N|$size|$target"
            port=$(target_port "$target")
            if [ "$target" = hindsight ]; then
                if [ "$HS_UP" != 1 ]; then
                    NOTE[$key]=${NOTE[$N,hs]:-no binary}
                    continue
                fi
                if ! kill -0 "$HS_PID" 2>/dev/null; then
                    hs_fail "$key" "hindsight exited"; continue
                fi
            fi
            if ! check_http "127.0.0.1:$port" "/$size" "$len"; then
                [ "$target" = hindsight ] || die "N=$N $size $target: GET /$size did not return $len bytes"
                hs_fail "$key" "wrong answer to GET /$size"; continue
            fi
            out=$PREFIX/wrk-$size-$target-warmup.txt
            note "N=$N $size $target: warm-up wrk -c$CONNS -d$WARMUP"
            if ! run_wrk "$WARMUP" "$out" "http://127.0.0.1:$port/$size"; then
                cat "$out" >&2
                [ "$target" = hindsight ] || die "N=$N $size $target: wrk failed (warm-up)"
                hs_fail "$key" "wrk failed (warm-up)"; continue
            fi
            [ "$target" = hindsight ] && HS_OK=1
        done
        for r in $(seq "$ROUNDS"); do
            if [ $((r % 2)) = 1 ]; then order="direct nginx hindsight"; else order="direct hindsight nginx"; fi
            for target in $order; do
                if [ "$target" = hindsight ]; then
                    [ "$HS_OK" = 1 ] || continue
                    if ! kill -0 "$HS_PID" 2>/dev/null; then
                        hs_fail "$N|$size|hindsight" "hindsight exited before round $r"; continue
                    fi
                fi
                measure "$target" "$r"
            done
        done
    done

    # memory with IDLE_CONNS idle keep-alive connections (after the load runs)
    if open_idle "$NGINX_PORT"; then
        NGX_RSS_CONN[$N]=$(rss_tree_kib "$NGX_PID")
    else
        note "N=$N: nginx: idle connections failed: $IDLE_ERR"
    fi
    close_idle
    if [ "$HS_UP" = 1 ] && kill -0 "$HS_PID" 2>/dev/null; then
        if open_idle "$HS_PORT"; then
            RSS_CONN[$N]=$(rss_kib "$HS_PID")
        else
            note "N=$N: hindsight: idle connections failed: $IDLE_ERR"
            NOTE[$N,rss]="idle connections failed: $IDLE_ERR"
            HS_FAILED=1
        fi
        close_idle
    fi

    # stop this N's servers
    for p in $HS_PID "$NGX_PID" "$UP_PID"; do
        [ -n "$p" ] || continue
        stop_pid "$p"; forget_pid "$p"
    done
done

# --- report ---------------------------------------------------------------------------
END=$(date +%s)
children_cpu_s >"$TMP/child1"
OTHER_CPU=$(awk -v b0="$BUSY0" -v b1="$(cpu_busy_jiffies)" -v c0="$CHILD0" -v c1="$(cat "$TMP/child1")" \
    -v hz="$(getconf CLK_TCK)" -v wall=$((END - START)) -v n="$NCPU" 'BEGIN {
        other = (b1 - b0) / hz - (c1 - c0); if (other < 0) other = 0
        printf "%.0f %.1f", other, (wall > 0 ? 100 * other / (wall * n) : 0) }')
read -r OTHER_S OTHER_PCT <<<"$OTHER_CPU"
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

echo
echo "## hindsight benchmark"
echo
echo "- $(date -u '+%Y-%m-%d %H:%M UTC'), $NCPU CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), kernel $(uname -r)"
echo "- $(nginx -v 2>&1 | sed 's/^nginx version: //'), wrk -t$WRK_THREADS -c$CONNS -d$DURATION --latency per measurement"
echo "- method: per (N, size) one $WARMUP warm-up per target, then $ROUNDS interleaved rounds of direct, nginx, hindsight (nginx first in odd rounds, hindsight first in even ones); medians over rounds; CPU ticks of 1/$HZ s"
if [ "$HS_AVAILABLE" = 1 ]; then echo "- hindsight: $HS_BIN"; else echo "- hindsight: n/a — $HS_NOTE"; fi
echo "- upstream: nginx, 1 worker, unix socket; small = 'return 200' with $SMALL_SIZE B, large = static $LARGE_SIZE B file"
if [ "$PIN" = 1 ]; then
    echo "- CPUs: wrk pinned to CPU 0; N=1: upstream + proxy pinned to CPU 1; N=2: upstream and proxies NOT pinned (they share both cores with wrk)"
else
    echo "- CPUs: only $NCPU CPU — nothing pinned"
fi
if awk -v p="$OTHER_PCT" 'BEGIN { exit !(p > 5) }'; then
    echo "- WARNING: other processes used ~${OTHER_S} CPU-seconds (~${OTHER_PCT}% of the machine) during the run: the numbers are disturbed"
else
    echo "- other load during the run: ~${OTHER_PCT}% of the machine (${OTHER_S} CPU-s)"
fi
echo
# Per target: medians over the rounds; per (N, size): medians (and ranges) of the
# per-round hindsight/nginx and hindsight/direct ratios.
declare -A S_RPS S_P50 S_P99 S_CPU S_RN S_RD S_RP S_RC
for N in $THREADS_LIST; do
    for size in $SIZES; do
        for target in $TARGETS; do
            key="$N|$size|$target"
            l_rps=() l_p50=() l_p99=() l_cpu=()
            for r in $(seq "$ROUNDS"); do
                l_rps+=("${RPS[$key|$r]:-}"); l_p50+=("${P50[$key|$r]:-}")
                l_p99+=("${P99[$key|$r]:-}"); l_cpu+=("${CPU[$key|$r]:-}")
            done
            S_RPS[$key]=$(stats "${l_rps[@]}"); S_P50[$key]=$(stats "${l_p50[@]}")
            S_P99[$key]=$(stats "${l_p99[@]}"); S_CPU[$key]=$(stats "${l_cpu[@]}")
        done
        h="$N|$size|hindsight" g="$N|$size|nginx" d="$N|$size|direct"
        l_rn=() l_rd=() l_rp=() l_rc=()
        for r in $(seq "$ROUNDS"); do
            [ -n "${RPS[$h|$r]:-}" ] || continue
            l_rn+=("$(rawratio "${RPS[$h|$r]}" "${RPS[$g|$r]:-0}")")
            l_rd+=("$(rawratio "${RPS[$h|$r]}" "${RPS[$d|$r]:-0}")")
            l_rp+=("$(rawratio "${P99[$h|$r]}" "${P99[$g|$r]:-0}")")
            [ -n "${CPU[$h|$r]:-}" ] && [ -n "${CPU[$g|$r]:-}" ] &&
                l_rc+=("$(rawratio "${CPU[$g|$r]}" "${CPU[$h|$r]}")")
        done
        S_RN[$N|$size]=$(stats "${l_rn[@]}"); S_RD[$N|$size]=$(stats "${l_rd[@]}")
        S_RP[$N|$size]=$(stats "${l_rp[@]}"); S_RC[$N|$size]=$(stats "${l_rc[@]}")
    done
done

echo "Medians over the rounds; ratios are medians of the per-round ratios (nginx and hindsight of the same round), with the min–max over the rounds in brackets. Proxy CPU/req = user+sys CPU of the proxy's processes per request (nginx: master + workers), not counting the upstream or wrk."
echo
echo "| N | size | target | rounds | requests/s | p50 | p99 | errors | proxy CPU/req | hs/nginx req/s | hs/direct req/s | hs p99 / nginx p99 | CPU/req nginx/hs |"
echo "|---|------|--------|-------:|-----------:|----:|----:|-------:|--------------:|---------------:|----------------:|-------------------:|-----------------:|"
for N in $THREADS_LIST; do
    for size in $SIZES; do
        for target in $TARGETS; do
            key="$N|$size|$target"
            if [ -z "${S_RPS[$key]}" ]; then
                echo "| $N | $size | $target | 0 | n/a | n/a | n/a | ${NOTE[$key]:-n/a} | n/a | n/a | n/a | n/a | n/a |"
                continue
            fi
            nr=${S_RPS[$key]##* }
            errs=${ERRS[$key]:-0}
            [ -n "${NOTE[$key]:-}" ] && errs="$errs (${NOTE[$key]})"
            r1="" r2="" r3="" r4=""
            if [ "$target" = hindsight ]; then
                r1=$(rng "${S_RN[$N|$size]}")
                r2=$(f2 "$(med "${S_RD[$N|$size]}")")
                r3=$(f2 "$(med "${S_RP[$N|$size]}")")
                r4=$(rng "${S_RC[$N|$size]}")
            fi
            printf '| %s | %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$N" "$size" "$target" "$nr" \
                "$(med "${S_RPS[$key]}")" "$(fmt_ms "$(med "${S_P50[$key]}")")" "$(fmt_ms "$(med "${S_P99[$key]}")")" \
                "$errs" "$(fmt_cpu "$(med "${S_CPU[$key]}")")" "$r1" "$r2" "$r3" "$r4"
        done
    done
done
echo
echo "Requests/s per round (each round: direct, then nginx and hindsight in the order shown):"
echo
hdr="| N | size | |" sep="|---|------|---|"
for r in $(seq "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then hdr+=" r$r (nginx 1st) |"; else hdr+=" r$r (hs 1st) |"; fi
    sep+="---:|"
done
echo "$hdr"
echo "$sep"
for N in $THREADS_LIST; do
    for size in $SIZES; do
        for row in $TARGETS hs/nginx; do
            line="| $N | $size | $row |"
            for r in $(seq "$ROUNDS"); do
                if [ "$row" = hs/nginx ]; then
                    v=$(rawratio "${RPS[$N|$size|hindsight|$r]:-0}" "${RPS[$N|$size|nginx|$r]:-0}")
                    if [ -n "$v" ] && [ -n "${RPS[$N|$size|hindsight|$r]:-}" ]; then v=$(f2 "$v"); else v="n/a"; fi
                else
                    v=${RPS[$N|$size|$row|$r]:-}
                    if [ -n "$v" ]; then v=$(awk -v v="$v" 'BEGIN { printf "%.0f", v }'); else v="n/a"; fi
                fi
                line+=" $v |"
            done
            echo "$line"
        done
    done
done
echo
echo "Memory with $IDLE_CONNS idle keep-alive connections (each sent one GET /small; measured after the load runs):"
echo
echo "| N | process | RSS before load, no connections | RSS with $IDLE_CONNS idle connections |"
echo "|---|---------|-------------:|-------------:|"
for N in $THREADS_LIST; do
    if [ -n "${RSS_CONN[$N]:-}" ]; then
        echo "| $N | hindsight (VmRSS) | $(mib "${RSS_IDLE[$N]}") | $(mib "${RSS_CONN[$N]}") |"
    elif [ -n "${RSS_IDLE[$N]:-}" ]; then
        echo "| $N | hindsight (VmRSS) | $(mib "${RSS_IDLE[$N]}") | n/a (${NOTE[$N,rss]:-}) |"
    else
        echo "| $N | hindsight (VmRSS) | n/a | n/a |"
    fi
    echo "| $N | nginx proxy (master + $N worker(s), VmRSS summed) | $(mib "${NGX_RSS_IDLE[$N]:-0}") | ${NGX_RSS_CONN[$N]:+$(mib "${NGX_RSS_CONN[$N]}")} |"
done
echo
echo "Targets (from the issue): hindsight/nginx ≥ $TARGET_RPS_RATIO in requests/s with p99 no worse than nginx's; ≤ $TARGET_RSS_MIB MiB RSS at 1,000 idle connections."
echo "Judged on the medians of the per-round ratios over $ROUNDS rounds; the range shows how much single rounds disagreed."
echo
met=0 total=0 na=0
for N in $THREADS_LIST; do
    for size in $SIZES; do
        key="$N|$size|hindsight"
        total=$((total + 1))
        if [ -z "${S_RN[$N|$size]}" ]; then
            echo "- N=$N $size: n/a (${NOTE[$key]:-no data})"
            na=$((na + 1))
            continue
        fi
        read -r _ rmin rmax nr <<<"${S_RN[$N|$size]}"
        r=$(f2 "$(med "${S_RN[$N|$size]}")")
        rp=$(f2 "$(med "${S_RP[$N|$size]}")")
        ok_r=no ok_p=no
        ge "$r" "$TARGET_RPS_RATIO" && ok_r=yes
        ge 1 "$rp" && ok_p=yes
        verdict=MISSED
        if [ "$ok_r" = yes ] && [ "$ok_p" = yes ] && [ "${ERRS[$key]:-0}" = 0 ]; then verdict=MET; met=$((met + 1)); fi
        extra=""
        [ "${ERRS[$key]:-0}" = 0 ] || extra=", ${ERRS[$key]} errors"
        [ "$nr" = "$ROUNDS" ] || extra="$extra, only $nr of $ROUNDS rounds (${NOTE[$key]:-})"
        cpu=""
        [ -n "${S_RC[$N|$size]}" ] && cpu=", CPU/req nginx/hs ×$(f2 "$(med "${S_RC[$N|$size]}")")"
        echo "- N=$N $size: req/s ×$r (rounds $(f2 "$rmin")–$(f2 "$rmax"); ≥ $TARGET_RPS_RATIO: $ok_r), p99 ×$rp of nginx's ($(fmt_ms "$(med "${S_P99[$key]}")") vs $(fmt_ms "$(med "${S_P99[$N|$size|nginx]}")"); no worse: $ok_p)$cpu$extra → $verdict"
    done
    total=$((total + 1))
    if [ -n "${RSS_CONN[$N]:-}" ]; then
        if [ "${RSS_CONN[$N]}" -le $((TARGET_RSS_MIB * 1024)) ]; then
            verdict=MET; met=$((met + 1))
        else
            verdict=MISSED
        fi
        echo "- N=$N RSS at $IDLE_CONNS idle connections: $(mib "${RSS_CONN[$N]}") (≤ $TARGET_RSS_MIB MiB) → $verdict"
    else
        echo "- N=$N RSS at $IDLE_CONNS idle connections: n/a"
        na=$((na + 1))
    fi
done
echo
echo "Targets met: $met of $total$([ "$na" = 0 ] || echo " ($na n/a)"); benchmark took $((END - START)) s."
[ "$IDLE_CONNS" = 1000 ] || echo "(note: BENCH_IDLE_CONNECTIONS=$IDLE_CONNS, not the 1,000 of the target)"

if [ "$HS_FAILED" = 1 ]; then
    note "hindsight could not be measured in every row (see above)"
    exit 3
fi
exit 0
