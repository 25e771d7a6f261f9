#!/usr/bin/python3
"""CPU per request of proxies loaded at the same time — an A/B tool for small changes.

    bench/ab_cpu.py [--path /small] [--rounds 10] [--duration 2s] NAME=PORT:PID[:PID...] ...

bench/run.sh measures the targets one after the other, as a user would see them; on a
shared VM whose speed changes within seconds that cannot resolve a change of a few per
cent. Here every target gets its own wrk (pinned to CPU 0) in the same seconds, so
whatever the host does hits them all alike, and each round reports, per target, the CPU
time its processes used (utime + stime of the PIDs given: for nginx the master and its
workers) divided by the requests wrk completed. The ratios are taken against the first
target, per round; the median and range over the rounds are printed.

The targets must already run (this script starts nothing): e.g. two builds of hindsight
and an nginx proxy in front of one upstream, all pinned with `taskset -c 1`.
Requests/s under shared load say little (the targets compete for one core); read the
CPU ratio.
"""
import argparse
import os
import statistics
import subprocess
import sys


def parse_target(text):
    try:
        name, rest = text.split("=", 1)
        port, *pids = rest.split(":")
        return name, int(port), [int(p) for p in pids]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not NAME=PORT:PID[:PID...]")


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total


def completed_requests(wrk_output):
    for line in wrk_output.splitlines():
        if "requests in" in line:
            return int(line.split()[0])
    raise RuntimeError("wrk printed no request count:\n" + wrk_output)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("targets", nargs="+", type=parse_target, metavar="NAME=PORT:PID[:PID...]")
    ap.add_argument("--path", default="/small")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--duration", default="2s")
    ap.add_argument("--connections", type=int, default=25, help="wrk connections per target")
    args = ap.parse_args()
    if len(args.targets) < 2:
        ap.error("give at least two targets: the first is the baseline")
    for name, _, pids in args.targets:
        for pid in pids:
            if not os.path.exists(f"/proc/{pid}/stat"):
                ap.error(f"{name}: no process {pid}")

    tick = os.sysconf("SC_CLK_TCK")
    per_target = {name: [] for name, _, _ in args.targets}  # (requests, µs CPU/request)
    for _ in range(args.rounds):
        before = {name: cpu_ticks(pids) for name, _, pids in args.targets}
        runs = {
            name: subprocess.Popen(["taskset", "-c", "0", "wrk", "-t1", f"-c{args.connections}",
                                    f"-d{args.duration}", f"http://127.0.0.1:{port}{args.path}"],
                                   stdout=subprocess.PIPE, text=True)
            for name, port, _ in args.targets
        }
        outputs = {name: run.communicate()[0] for name, run in runs.items()}
        after = {name: cpu_ticks(pids) for name, _, pids in args.targets}
        for name, _, _ in args.targets:
            n = completed_requests(outputs[name])
            per_target[name].append((n, (after[name] - before[name]) / tick / max(n, 1) * 1e6))

    base = args.targets[0][0]
    print(f"{args.rounds} rounds of {args.duration}, {args.path}, all targets at once; "
          f"ratios per round against {base}, median [min-max]")
    for name, _, _ in args.targets:
        rows = per_target[name]
        line = (f"{name:12} requests {statistics.median(r[0] for r in rows):9.0f}"
                f"  CPU/request {statistics.median(r[1] for r in rows):7.2f} µs")
        if name != base:
            ratios = sorted(b[1] / r[1] for r, b in zip(rows, per_target[base]))
            line += (f"  CPU {base}/{name} {statistics.median(ratios):.3f}"
                     f" [{ratios[0]:.2f}-{ratios[-1]:.2f}]")
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
