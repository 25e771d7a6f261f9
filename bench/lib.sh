# bench/lib.sh — what the benchmark scripts share: messages, process control, and the
# arithmetic of their tables. Sourced (not run) by run.sh, capture.sh and replay.sh,
# which keep the globals these use: PIDS (processes to stop at exit) and TMP.

die() { echo "bench: error: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

# --- processes -----------------------------------------------------------------------
# make_tmp NAME: TMP, a fresh directory removed at exit (kept with BENCH_KEEP_TMP=1), and
# PIDS, the processes stopped at exit, the newest first.
make_tmp() {
    TMP=$(mktemp -d "/tmp/$1.XXXXXX") || die "mktemp failed"
    chmod 755 "$TMP"
    PIDS=()
    trap cleanup EXIT
    trap 'exit 130' INT TERM HUP
}

cleanup() {
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[$i]}"; done
    PIDS=()
    if [ "${BENCH_KEEP_TMP:-0}" = 1 ]; then
        note "kept $TMP"
    else
        rm -rf "$TMP"
    fi
}

children_of() {   # direct children of $1 (scan /proc; no name matching)
    local st ppid
    for st in /proc/[0-9]*/status; do
        ppid=$(awk '/^PPid:/ {print $2; exit}' "$st" 2>/dev/null) || continue
        [ "$ppid" = "$1" ] && { st=${st#/proc/}; echo "${st%/status}"; }
    done
}

stop_pid() {      # TERM, wait up to 5 s, then KILL (and any children left over)
    local pid=$1 kids i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    kids=$(children_of "$pid")
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    for i in $kids; do kill -KILL "$i" 2>/dev/null; done
    return 0
}

forget_pid() {    # a process stopped by hand is not stopped again at exit
    local p out=()
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || out+=("$p"); done
    PIDS=("${out[@]}")
}

render() {        # render TEMPLATE OUT VAR=VALUE...: @VAR@ replaced
    local tpl=$1 dst=$2 kv expr=()
    shift 2
    for kv in "$@"; do expr+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
    sed "${expr[@]}" "$tpl" >"$dst"
}

# --- CPU accounting --------------------------------------------------------------------
# Busy jiffies of the whole machine, and the user+sys seconds of this shell's reaped
# children: their difference says how much else ran during a measurement.
cpu_busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
children_cpu_s() {
    # `times` must run in this shell (not in a pipe or $(...), which fork): to a file.
    times >"$TMP/times"
    awk 'NR == 2 {
        t = 0
        for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }
        print t }' "$TMP/times"
}

# --- numbers ---------------------------------------------------------------------------
# parse_wrk FILE -> "rps p50_us p99_us requests seconds socket_errors non2xx"
parse_wrk() {
    awk '
    function us(v,   n, u) {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") return n
        if (u == "ms") return n * 1000
        if (u == "s")  return n * 1000000
        if (u == "m")  return n * 60000000
        if (u == "h")  return n * 3600000000
        return -1
    }
    /Latency Distribution/ { dist = 1; next }
    dist && $1 == "50%" { p50 = us($2) }
    dist && $1 == "99%" { p99 = us($2) }
    / requests in / { reqs = $1; secs = $4; sub(/,$/, "", secs); secs = us(secs) / 1000000 }
    /^Requests\/sec:/ { rps = $2 }
    /Non-2xx or 3xx responses:/ { non2xx += $NF }
    /Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
    END {
        if (rps == "" || p50 == "" || p99 == "" || secs <= 0) { print "fail"; exit }
        printf "%s %s %s %s %s %d %d\n", rps, p50, p99, reqs, secs, err, non2xx
    }' "$1"
}

# stats VALUE... -> "median min max count" of the non-empty values ("" if none)
stats() {
    awk 'BEGIN {
        n = 0
        for (i = 1; i < ARGC; i++) if (ARGV[i] != "") a[++n] = ARGV[i] + 0
        if (n == 0) { print ""; exit }
        for (i = 2; i <= n; i++) { v = a[i]; for (j = i - 1; j >= 1 && a[j] > v; j--) a[j + 1] = a[j]; a[j + 1] = v }
        med = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        printf "%.10g %.10g %.10g %d\n", med, a[1], a[n], n
        exit }' "$@"
}
med() { echo "${1%% *}"; }    # the median out of a stats line
rawratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.10g", a / b }'; }   # "" if b <= 0
rng() {           # "MEDIAN MIN MAX COUNT" -> "1.04 (0.93–1.15)", or "n/a"
    [ -n "$1" ] || { echo "n/a"; return; }
    awk -v s="$1" 'BEGIN { split(s, a, " "); printf "%.2f (%.2f–%.2f)", a[1], a[2], a[3] }'
}
f2() { if [ -n "$1" ]; then awk -v v="$1" 'BEGIN { printf "%.2f", v }'; else echo "n/a"; fi; }
fmt_cpu() { if [ -n "$1" ]; then awk -v v="$1" 'BEGIN { printf "%.1f µs", v }'; else echo "—"; fi; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
