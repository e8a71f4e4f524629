#!/usr/bin/env python3
"""The ctmux daemon measured: rule latency, idle cost, memory under load, and lost output lines.

Every section brings its own manifest up with `ctmux -f MANIFEST -L SOCK up` on a private tmux
server (`tmux -L ctmux-bench-daemon-...`, CTMUX_TMUX_CONF=/dev/null), with CTMUX_STATE_DIR and
XDG_RUNTIME_DIR pointing into a temporary directory, so the daemon `up` starts (the manifests
have `on:` rules) is this run's own. The daemon's pid comes from `ctmux daemon status --json`.
Pane programs wait for a go-file that is created only once the daemon's control clients are
attached, so every measured line travels the live path (tmux %output -> daemon), not the
backfill. Teardown kills the tmux server (the daemon exits on its own when its server dies; one
that does not is reported, then killed), unlinks the socket and removes the temporary directory.

  latency  one pane prints `MARK <its wall-clock ns>` every 30-50 ms (--samples of them); the rule
           `match: 'MARK (?P<t>\\d+)'` runs `echo "$CTMUX_MATCH_T $(date +%s%N)" >> fired`.
           Reported: action time - print time (p50/p90/p99/max), and the pane-log write time -
           print time. Side by side, in the same run: the seed MVP's way, a loop that runs
           `tmux capture-pane -p` every --poll-interval seconds (1 s) on the same marker program on
           its own private server and greps for new markers.
  idle     --sessions x --panes (10 x 10) panes of `sleep 100000` with a never-matching rule;
           after --settle seconds, the daemon's CPU time (utime+stime, /proc/PID/stat) over
           --idle-secs as % of one core (target <= 0.1 %), and its RSS (VmRSS). Its children (the
           `tmux -C` control clients) and the tmux server are shown alongside.
  memory   the same 100 panes each printing a numbered line every --line-ms (10 ms); the
           daemon's RSS sampled every --memory-interval (10 s) for --memory-secs (600): start,
           peak, end, least-squares slope (target <= 30 MiB and flat); its CPU; and whether every
           pane log holds a gapless, duplicate-free run of line numbers.
  loss     three panes: `seq 1 --burst-lines` (200,000), --long-lines (200) lines of
           --long-bytes (10 KiB), and --utf8-lines (2,000) numbered lines mixed with invalid
           UTF-8. Each pane log ($CTMUX_STATE_DIR/logs/<project>/<session>/<pane>.log, lines
           `<ms>\\t<raw>`) and `ctmux logs --no-prefix TARGET` are checked for lost, duplicated,
           out-of-order and altered lines; so is `ctmux logs -f --no-prefix TARGET`, started before
           the burst, when this build has it (else reported as not available).

Usage: bench/daemon.py [--ctmux target/release/ctmux] [--sections latency,idle,loss,memory]
                       [--samples 250] [--idle-secs 60] [--memory-secs 600] [--json out.json]
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SECTIONS = ("latency", "idle", "memory", "loss")
TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
PY = sys.executable or "python3"

# ---------------------------------------------------------------- pane programs (python, no deps)

MARKER = r'''
import os, random, sys, time
go, count = sys.argv[1], int(sys.argv[2])
while not os.path.exists(go):
    time.sleep(0.02)
for _ in range(count):
    sys.stdout.write("MARK %d\n" % time.time_ns())
    sys.stdout.flush()
    time.sleep(random.uniform(0.030, 0.050))
sys.stdout.write("DONE\n")
sys.stdout.flush()
while True:
    time.sleep(3600)
'''

STREAMER = r'''
import os, sys, time
go, name, period = sys.argv[1], sys.argv[2], float(sys.argv[3]) / 1000
while not os.path.exists(go):
    time.sleep(0.05)
i, nxt = 0, time.monotonic()
while True:
    i += 1
    sys.stdout.write("%s %d lorem ipsum dolor sit amet\n" % (name, i))
    sys.stdout.flush()
    nxt += period
    d = nxt - time.monotonic()
    if d > 0:
        time.sleep(d)
    else:
        nxt = time.monotonic()
'''

# Long lines and invalid UTF-8; the expected bytes of line i are rebuilt by the checker.
WRITER = r'''
import os, sys, time
go, kind, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
while not os.path.exists(go):
    time.sleep(0.02)
out = sys.stdout.buffer
for i in range(1, n + 1):
    out.write(LINE(kind, i, size) + b"\n")
    out.flush()
while True:
    time.sleep(3600)
'''

LINE_SRC = r'''
def LINE(kind, i, size):
    if kind == "long":
        head = b"L%06d " % i
        body = bytes(0x61 + (i + k) % 26 for k in range(size - len(head) - 4))
        return head + body + b" END"
    bad = [b"\xff\xfe", b"\xc3\x28", b"\xe2\x82", b"\xf0\x28\x8c\xbc", b"\xed\xa0\x80", b"\x80\x80\x80"]
    return b"U%06d " % i + bad[i % len(bad)] + b" caf\xc3\xa9 " + bad[(i + 3) % len(bad)] + b" end"
'''
_ns = {}
exec(LINE_SRC, _ns)
expected_line = _ns["LINE"]


# ---------------------------------------------------------------- helpers


def pct(values, p):
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def dist(values_ms):
    if not values_ms:
        return {"n": 0}
    return {
        "n": len(values_ms),
        "p50": pct(values_ms, 50),
        "p90": pct(values_ms, 90),
        "p99": pct(values_ms, 99),
        "max": max(values_ms),
        "min": min(values_ms),
        "mean": statistics.fmean(values_ms),
    }


def fmt_ms(v):
    return f"{v:.1f} ms" if v < 100 else f"{v:.0f} ms"


def proc_cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    except (OSError, IndexError, ValueError):
        return None


def proc_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    rest = f.read().rsplit(")", 1)[1].split()
                if int(rest[1]) == pid:
                    out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(pred, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def socket_file(sock):
    return os.path.join(os.environ.get("TMUX_TMPDIR", "/tmp"), f"tmux-{os.getuid()}", sock)


def tmux(sock, *args):
    return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True)


def kill_server(sock):
    tmux(sock, "kill-server")
    wait_until(lambda: tmux(sock, "list-sessions").returncode != 0, 2, 0.02)
    try:
        os.unlink(socket_file(sock))
    except FileNotFoundError:
        pass


def server_pid(sock):
    r = tmux(sock, "display-message", "-p", "#{pid}")
    try:
        return int(r.stdout.strip())
    except ValueError:
        return None


# ---------------------------------------------------------------- a ctmux stack on a private server


class Stack:
    """One private tmux server brought up by ctmux from a manifest, with its own state dirs."""

    def __init__(self, args, name, manifest_text):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix=f"ctmux-bench-daemon-{name}-")
        self.sock = f"ctmux-bench-daemon-{name}-{os.getpid()}"
        self.state = os.path.join(self.tmp, "state")
        self.runtime = os.path.join(self.tmp, "run")
        os.makedirs(self.state)
        os.makedirs(self.runtime, mode=0o700)
        self.env = dict(os.environ, CTMUX_STATE_DIR=self.state, XDG_RUNTIME_DIR=self.runtime,
                        CTMUX_TMUX_CONF="/dev/null", NO_COLOR="1")
        self.env.pop("CTMUX_TMUX_SOCKET", None)
        self.env.pop("TMUX", None)
        self.manifest = os.path.join(self.tmp, "ctmux.yaml")
        with open(self.manifest, "w") as f:
            f.write(manifest_text.replace("@TMP@", self.tmp))
        self.daemon = None
        self.procs = []
        self.notes = []

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def ctmux(self, *argv, timeout=120):
        return subprocess.run([self.args.ctmux, "-f", self.manifest, "-L", self.sock, *argv], env=self.env,
                              capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def up(self):
        start = time.monotonic()
        r = self.ctmux("-q", "up")
        if r.returncode != 0:
            raise RuntimeError(f"ctmux up failed ({r.returncode}): {r.stderr.decode(errors='replace')[:800]}")
        self.up_secs = time.monotonic() - start

        def pid():
            r = self.ctmux("daemon", "status", "--json")
            try:
                return json.loads(r.stdout)["status"]["pid"]
            except (ValueError, KeyError, TypeError):
                return None

        self.daemon = wait_until(pid, 10, 0.1)
        if not self.daemon:
            raise RuntimeError("no daemon answered `ctmux daemon status --json` after up")
        return self.daemon

    def status(self):
        r = self.ctmux("daemon", "status", "--json")
        try:
            return json.loads(r.stdout).get("status") or {}
        except ValueError:
            return {}

    def wait_attached(self, sessions, panes, timeout=30):
        """Until the daemon watches `panes` panes and `sessions` control clients are attached."""

        def ready():
            st = self.status()
            clients = tmux(self.sock, "list-clients", "-F", "#{client_control_mode}").stdout.split()
            return st.get("panes", 0) >= panes and clients.count("1") >= sessions

        if not wait_until(ready, timeout, 0.1):
            raise RuntimeError(f"daemon did not attach to {sessions} sessions / {panes} panes within {timeout}s "
                               f"(status: {self.status()})")
        time.sleep(0.5)  # the attach-time captures are answered through the client; let them finish

    def go(self):
        open(self.path("go"), "w").close()

    def pane_log(self, project, session, pane):
        return os.path.join(self.state, "logs", project, session, f"{pane}.log")

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(3)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        kill_server(self.sock)
        if self.daemon and not wait_until(lambda: not alive(self.daemon), 10, 0.05):
            self.notes.append(f"daemon {self.daemon} still running 10 s after its tmux server died; killed it")
            try:
                os.kill(self.daemon, signal.SIGTERM)
            except ProcessLookupError:
                pass
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            self.notes.append(f"kept {self.tmp}")


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def grid_manifest(name, sessions, panes, command_for, rule):
    lines = ["version: 1", f"name: {name}", "shell: /bin/sh", "sessions:"]
    for s in range(sessions):
        lines += [f"  s{s}:", "    windows:"]
        # at most 5 panes per window, tiled: a default-size window cannot hold 10 splits
        for w in range((panes + 4) // 5):
            lines += [f"      w{w}:", "        layout: tiled", "        panes:"]
            for p in range(w * 5, min(panes, w * 5 + 5)):
                lines += [f"          p{p}:", f"            command: '{command_for(s, p)}'", "            on:", rule]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- latency


def section_latency(args):
    n = args.samples
    manifest = f"""version: 1
name: benchlat
shell: /bin/sh
sessions:
  lat:
    panes:
      marker:
        command: 'exec {PY} @TMP@/marker.py @TMP@/go {n}'
        on:
          - match: 'MARK (?P<t>\\d+)'
            do: {{ run: 'echo "$${{CTMUX_MATCH_T}} $$(date +%s%N)" >> @TMP@/fired.txt' }}
"""
    st = Stack(args, "latency", manifest)
    seed_sock = f"ctmux-bench-daemon-seed-{os.getpid()}"
    result = {}
    try:
        write(st.path("marker.py"), MARKER)
        st.up()
        st.wait_attached(1, 1)
        # the seed-style baseline: the same marker program on its own private server
        r = tmux(seed_sock, "-f", "/dev/null", "new-session", "-d", "-s", "seed", "-x", "160", "-y", "60",
                 f"exec {PY} {st.path('marker.py')} {st.path('go')} {n}")
        if r.returncode != 0:
            raise RuntimeError(f"baseline tmux server: {r.stderr}")
        seen, detected, polls, stop = set(), {}, [0], threading.Event()
        mark = re.compile(r"MARK (\d+)")

        def poller():  # what the seed MVP does: capture-pane -p every second, grep for the pattern
            while not stop.is_set():
                out = tmux(seed_sock, "capture-pane", "-p", "-t", "seed").stdout
                now = time.time_ns()
                polls[0] += 1
                for m in mark.finditer(out):
                    t = int(m.group(1))
                    if t not in seen:
                        seen.add(t)
                        detected[t] = now
                if "DONE" in out:
                    stop.set()
                stop.wait(args.poll_interval)

        thread = threading.Thread(target=poller, daemon=True)
        thread.start()
        st.go()
        fired = st.path("fired.txt")

        def count():
            try:
                with open(fired) as f:
                    return sum(1 for _ in f)
            except FileNotFoundError:
                return 0

        wait_until(lambda: count() >= n and stop.is_set(), n * 0.05 + 30, 0.2)
        time.sleep(0.3)
        stop.set()
        thread.join(5)
        pairs = []
        with open(fired) if os.path.exists(fired) else open(os.devnull) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                    pairs.append((int(parts[0]), int(parts[1])))
        marks = {t for t, _ in pairs}
        daemon_ms = [(a - t) / 1e6 for t, a in pairs]
        # when the daemon wrote the line to the pane log (ms resolution)
        log_ms = []
        try:
            with open(st.pane_log("benchlat", "lat", "marker"), "rb") as f:
                for line in f:
                    ts, _, raw = line.rstrip(b"\n").partition(b"\t")
                    m = re.match(rb"MARK (\d+)$", raw)
                    if m:
                        log_ms.append(int(ts) + 0.5 - int(m.group(1)) / 1e6)  # ts is truncated to ms
        except FileNotFoundError:
            pass
        seed_ms = [(detected[t] - t) / 1e6 for t in detected]
        result = {
            "samples": n,
            "daemon_action": dist(daemon_ms),
            "daemon_log_write": dist(log_ms),
            "daemon_fired": len(pairs),
            "daemon_distinct": len(marks),
            "seed_poll": dist(seed_ms),
            "seed_detected": len(detected),
            "seed_polls": polls[0],
            "poll_interval_s": args.poll_interval,
            "daemon_pid": st.daemon,
        }
        if daemon_ms and seed_ms:
            result["ratio_p50"] = pct(seed_ms, 50) / pct(daemon_ms, 50)
            result["ratio_p99"] = pct(seed_ms, 99) / pct(daemon_ms, 99)
    finally:
        kill_server(seed_sock)
        st.close()
        result["notes"] = st.notes
    d, s, w = result.get("daemon_action", {}), result.get("seed_poll", {}), result.get("daemon_log_write", {})
    print(f"## latency: line printed -> rule action ({n} markers every 30-50 ms)\n")
    print("| path | samples | p50 | p90 | p99 | max |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    if d.get("n"):
        print(f"| ctmux daemon, `on:` rule `run` (fork sh + date) | {d['n']} | {fmt_ms(d['p50'])} | {fmt_ms(d['p90'])} | "
              f"{fmt_ms(d['p99'])} | {fmt_ms(d['max'])} |")
    if w.get("n"):
        print(f"| ctmux daemon, line in pane log (ms clock, ±0.5 ms) | {w['n']} | {fmt_ms(w['p50'])} | {fmt_ms(w['p90'])} | "
              f"{fmt_ms(w['p99'])} | {fmt_ms(w['max'])} |")
    if s.get("n"):
        print(f"| seed MVP: `capture-pane -p` every {args.poll_interval:g} s + grep | {s['n']} | {fmt_ms(s['p50'])} | "
              f"{fmt_ms(s['p90'])} | {fmt_ms(s['p99'])} | {fmt_ms(s['max'])} |")
    print()
    print(f"- daemon: fired {result.get('daemon_fired', 0)} times for {result.get('daemon_distinct', 0)} distinct of "
          f"{n} markers; seed loop: saw {result.get('seed_detected', 0)} of {n} in {result.get('seed_polls', 0)} polls")
    if "ratio_p50" in result:
        print(f"- seed / daemon: {result['ratio_p50']:.0f}x at p50, {result['ratio_p99']:.0f}x at p99")
    for note in result["notes"]:
        print(f"- note: {note}")
    print()
    return result


# ---------------------------------------------------------------- idle


def cpu_snapshot(pids):
    return {p: proc_cpu_ticks(p) for p in pids}


def cpu_pct(before, after, secs):
    total = 0
    for p, t0 in before.items():
        t1 = after.get(p)
        if t0 is not None and t1 is not None:
            total += t1 - t0
    return 100.0 * total / TICKS / secs, total


def section_idle(args):
    rule = "              - { match: 'never-matches-(?P<x>zzz)', do: event }"
    manifest = grid_manifest("benchidle", args.sessions, args.panes, lambda s, p: "exec sleep 100000", rule)
    st = Stack(args, "idle", manifest)
    result = {}
    try:
        st.up()
        st.wait_attached(args.sessions, args.sessions * args.panes)
        time.sleep(args.settle)
        kids = children(st.daemon)
        spid = server_pid(st.sock)
        t0 = time.monotonic()
        d0, k0, s0 = cpu_snapshot([st.daemon]), cpu_snapshot(kids), cpu_snapshot([spid] if spid else [])
        time.sleep(args.idle_secs)
        secs = time.monotonic() - t0
        d1, k1, s1 = cpu_snapshot([st.daemon]), cpu_snapshot(kids), cpu_snapshot([spid] if spid else [])
        dp, dt = cpu_pct(d0, d1, secs)
        kp, kt = cpu_pct(k0, k1, secs)
        sp, stt = cpu_pct(s0, s1, secs)
        rss = proc_rss_kib(st.daemon)
        krss = sum(proc_rss_kib(k) or 0 for k in kids)
        result = {
            "panes": args.sessions * args.panes,
            "sessions": args.sessions,
            "secs": secs,
            "daemon_cpu_pct": dp,
            "daemon_ticks": dt,
            "daemon_rss_kib": rss,
            "children": len(kids),
            "children_cpu_pct": kp,
            "children_rss_kib": krss,
            "tmux_server_cpu_pct": sp,
            "up_secs": st.up_secs,
            "daemon_pid": st.daemon,
        }
    finally:
        st.close()
        result["notes"] = st.notes
    print(f"## idle: {args.sessions} sessions x {args.panes} panes of `sleep`, {args.idle_secs:g} s after {args.settle:g} s settle\n")
    if "daemon_cpu_pct" in result:
        ok = "met" if result["daemon_cpu_pct"] <= 0.1 else "NOT met"
        print("| process | CPU (% of one core) | CPU ticks | RSS |")
        print("| --- | ---: | ---: | ---: |")
        print(f"| ctmux daemon | {result['daemon_cpu_pct']:.3f} % | {result['daemon_ticks']} | "
              f"{(result['daemon_rss_kib'] or 0) / 1024:.1f} MiB |")
        print(f"| its {result['children']} children (`tmux -C` clients) | {result['children_cpu_pct']:.3f} % | "
              f"{result['children_cpu_pct'] * result['secs'] * TICKS / 100:.0f} | {result['children_rss_kib'] / 1024:.1f} MiB |")
        print(f"| tmux server (context) | {result['tmux_server_cpu_pct']:.3f} % | | |")
        print(f"\n- target daemon CPU <= 0.1 %: {ok} (resolution: 1 tick = {100 / TICKS / result['secs']:.3f} % over "
              f"{result['secs']:.0f} s); `up` of {result['panes']} panes took {result['up_secs'] * 1000:.0f} ms")
    for note in result["notes"]:
        print(f"- note: {note}")
    print()
    return result


# ---------------------------------------------------------------- memory


def check_numbered(path, prefix):
    """Numbers of lines `<ms>\\t<prefix> <n> ...` in a pane log: count, gaps, duplicates, inversions."""
    nums = []
    try:
        with open(path, "rb") as f:
            for line in f:
                _, _, raw = line.rstrip(b"\n").partition(b"\t")
                parts = raw.split(b" ", 2)
                if len(parts) >= 2 and parts[0] == prefix and parts[1].isdigit():
                    nums.append(int(parts[1]))
    except FileNotFoundError:
        pass
    if not nums:
        return {"lines": 0, "missing": 0, "dups": 0, "inversions": 0, "last": 0}
    distinct = set(nums)
    lo, hi = min(nums), max(nums)
    return {
        "lines": len(nums),
        "first": lo,
        "last": hi,
        "missing": (hi - lo + 1) - len(distinct),
        "dups": len(nums) - len(distinct),
        "inversions": sum(1 for a, b in zip(nums, nums[1:]) if b < a),
    }


def slope(points):
    """Least squares, y per x."""
    if len(points) < 2:
        return 0.0
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else 0.0


def section_memory(args):
    rule = "              - { match: 'PANIC (?P<why>.*)', do: event }"
    manifest = grid_manifest("benchmem", args.sessions, args.panes,
                             lambda s, p: f"exec {PY} @TMP@/streamer.py @TMP@/go s{s}p{p} {args.line_ms}", rule)
    st = Stack(args, "memory", manifest)
    result = {}
    samples = []
    try:
        write(st.path("streamer.py"), STREAMER)
        st.up()
        st.wait_attached(args.sessions, args.sessions * args.panes)
        kids = children(st.daemon)
        spid = server_pid(st.sock)
        idle_rss = proc_rss_kib(st.daemon)
        st.go()
        t0 = time.monotonic()
        c0, k0, s0 = cpu_snapshot([st.daemon]), cpu_snapshot(kids), cpu_snapshot([spid] if spid else [])
        print(f"## memory: {args.sessions * args.panes} panes each printing a line every {args.line_ms:g} ms, "
              f"{args.memory_secs:g} s\n", flush=True)
        while True:
            now = time.monotonic() - t0
            rss = proc_rss_kib(st.daemon)
            if rss is None:
                st.notes.append(f"daemon gone at t={now:.0f}s")
                break
            samples.append((now, rss))
            if not args.quiet_progress:
                print(f"  t={now:6.0f} s  daemon RSS {rss / 1024:7.1f} MiB", file=sys.stderr, flush=True)
            if now >= args.memory_secs:
                break
            time.sleep(max(0.0, min(args.memory_interval, args.memory_secs - now)))
        secs = time.monotonic() - t0
        c1, k1, s1 = cpu_snapshot([st.daemon]), cpu_snapshot(kids), cpu_snapshot([spid] if spid else [])
        dp, _ = cpu_pct(c0, c1, secs)
        kp, _ = cpu_pct(k0, k1, secs)
        sp, _ = cpu_pct(s0, s1, secs)
        time.sleep(1)
        checks = {}
        for s in range(args.sessions):
            for p in range(args.panes):
                checks[f"s{s}/p{p}"] = check_numbered(st.pane_log("benchmem", f"s{s}", f"p{p}"), f"s{s}p{p}".encode())
        lines = sum(c["lines"] for c in checks.values())
        rss_mib = [r / 1024 for _, r in samples]
        warm = min(60.0, secs / 2)
        result = {
            "panes": args.sessions * args.panes,
            "line_ms": args.line_ms,
            "secs": secs,
            "rss_idle_mib": (idle_rss or 0) / 1024,
            "rss_start_mib": rss_mib[0] if rss_mib else None,
            "rss_peak_mib": max(rss_mib) if rss_mib else None,
            "rss_end_mib": rss_mib[-1] if rss_mib else None,
            "slope_mib_per_hour": slope([(t / 3600, r / 1024) for t, r in samples]),
            "warmup_secs": warm,
            "slope_after_warmup_mib_per_hour": slope([(t / 3600, r / 1024) for t, r in samples if t >= warm]),
            "samples": samples,
            "daemon_cpu_pct": dp,
            "children_cpu_pct": kp,
            "children": len(kids),
            "tmux_server_cpu_pct": sp,
            "lines_logged": lines,
            "lines_per_sec": lines / secs,
            "missing": sum(c["missing"] for c in checks.values()),
            "dups": sum(c["dups"] for c in checks.values()),
            "inversions": sum(c["inversions"] for c in checks.values()),
            "panes_with_problems": sorted(k for k, c in checks.items() if c["missing"] or c["dups"] or c["inversions"]
                                          or c["lines"] == 0 or c.get("first", 1) != 1),
            "daemon_pid": st.daemon,
        }
    finally:
        st.close()
        result["notes"] = st.notes
    if result.get("rss_start_mib") is not None:
        ok = "met" if result["rss_peak_mib"] <= 30 else "NOT met"
        print("| daemon RSS | idle (attached) | start | peak | end | slope | slope after warm-up |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        print(f"| MiB | {result['rss_idle_mib']:.1f} | {result['rss_start_mib']:.1f} | {result['rss_peak_mib']:.1f} | "
              f"{result['rss_end_mib']:.1f} | {result['slope_mib_per_hour']:+.2f} MiB/h | "
              f"{result['slope_after_warmup_mib_per_hour']:+.2f} MiB/h (t >= {result['warmup_secs']:.0f} s) |")
        print(f"\n- target <= 30 MiB: {ok}; {len(result['samples'])} samples every {args.memory_interval:g} s: "
              + " ".join(f"{r / 1024:.1f}" for _, r in result["samples"]))
        print(f"- CPU under load, % of one core: daemon {result['daemon_cpu_pct']:.1f} %, its {result['children']} `tmux -C` "
              f"clients {result['children_cpu_pct']:.1f} %, tmux server {result['tmux_server_cpu_pct']:.1f} %; "
              f"{result['lines_logged']} lines logged ({result['lines_per_sec']:.0f}/s)")
        print(f"- pane logs: {result['missing']} missing, {result['dups']} duplicated, {result['inversions']} out of "
              f"order; panes with problems: {', '.join(result['panes_with_problems']) or 'none'}")
    for note in result["notes"]:
        print(f"- note: {note}")
    print()
    return result


# ---------------------------------------------------------------- loss


def analyse(lines, kind, n, size):
    """Checks `lines` (raw bytes, no newline) against the n lines the pane printed."""
    seen, order, altered, replaced, extra = {}, [], 0, 0, 0
    for raw in lines:
        if kind == "burst":
            key = int(raw) if raw.isdigit() else None
        else:
            m = re.match(rb"[LU](\d{6}) ", raw)
            key = int(m.group(1)) if m else None
            if key is not None and 1 <= key <= n:
                want = expected_line(kind, key, size)
                if raw == want:
                    pass
                elif raw == want.decode("utf-8", "replace").encode():
                    replaced += 1  # invalid UTF-8 turned into U+FFFD, otherwise intact
                else:
                    altered += 1
        if key is None or not (1 <= key <= n):
            extra += 1
            continue
        seen[key] = seen.get(key, 0) + 1
        order.append(key)
    return {
        "expected": n,
        "received": len(order),
        "lost": n - len(seen),
        "duplicated": sum(c - 1 for c in seen.values()),
        "out_of_order": sum(1 for a, b in zip(order, order[1:]) if b < a),
        "altered": altered,
        "utf8_replaced": replaced,
        "extra": extra,
    }


def split_lines(data):
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [l[:-1] if l.endswith(b"\r") else l for l in lines]


def read_pane_log(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    out = []
    for line in split_lines(data):
        ts, tab, raw = line.partition(b"\t")
        out.append(raw if tab else line)
    return out


def section_loss(args):
    panes = {
        "burst": ("burst", args.burst_lines, 0, f"seq 1 {args.burst_lines}"),
        "long": ("long", args.long_lines, args.long_bytes, None),
        "utf8": ("utf8", args.utf8_lines, 0, None),
    }
    lines = ["version: 1", "name: benchloss", "shell: /bin/sh", "sessions:", "  loss:", "    panes:"]
    for name, (kind, n, size, cmd) in panes.items():
        if cmd:
            command = f"while [ ! -e @TMP@/go ]; do sleep 0.02; done; {cmd}; exec sleep 100000"
        else:
            command = f"exec {PY} @TMP@/writer.py @TMP@/go {kind} {n} {size}"
        lines += [f"      {name}:", f"        command: '{command}'", "        on:",
                  "          - { match: 'never-(?P<x>zzz)', do: event }"]
    st = Stack(args, "loss", "\n".join(lines) + "\n")
    result = {}
    try:
        write(st.path("writer.py"), LINE_SRC + WRITER)
        if args.loss_ungated:
            st.go()
        st.up()
        st.wait_attached(1, len(panes))
        # does this build have `logs -f`?
        probe = subprocess.Popen([args.ctmux, "-f", st.manifest, "-L", st.sock, "logs", "-f", "--no-prefix", "loss/burst"],
                                 env=st.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            probe.wait(1.5)
            follow = False
            follow_why = f"exit {probe.returncode}: " + probe.stderr.read().decode(errors="replace").strip().splitlines()[0][:200]
        except subprocess.TimeoutExpired:
            follow = True
            probe.terminate()
            probe.wait()
        probe.stderr.close()
        followers = {}
        if follow:
            for name in panes:
                out = open(st.path(f"follow-{name}.out"), "wb")
                p = subprocess.Popen([args.ctmux, "-f", st.manifest, "-L", st.sock, "logs", "-f", "--no-prefix", f"loss/{name}"],
                                     env=st.env, stdout=out, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
                st.procs.append(p)
                followers[name] = (p, out)
            time.sleep(1.0)
        t0 = time.monotonic()
        st.go()
        last = {n: (expected_line(k, c, s) if k != "burst" else str(c).encode()) for n, (k, c, s, _) in panes.items()}

        def complete():
            for name in panes:
                log = read_pane_log(st.pane_log("benchloss", "loss", name))
                if last[name] not in log[-50:]:
                    return False
            return True

        done = wait_until(complete, args.loss_timeout, 0.25)
        elapsed = time.monotonic() - t0
        sizes = lambda: [os.path.getsize(st.pane_log("benchloss", "loss", n)) for n in panes
                         if os.path.exists(st.pane_log("benchloss", "loss", n))]
        prev = None
        for _ in range(20):  # until the logs stop growing (late duplicates would show up here)
            cur = sizes()
            if cur == prev:
                break
            prev = cur
            time.sleep(0.5)
        if not done:
            st.notes.append(f"pane logs incomplete after {args.loss_timeout:g} s")
        per = {}
        for name, (kind, n, size, _) in panes.items():
            entry = {"pane_log": analyse(read_pane_log(st.pane_log("benchloss", "loss", name)), kind, n, size)}
            r = st.ctmux("logs", "--no-prefix", f"loss/{name}")
            entry["logs_cmd_exit"] = r.returncode
            entry["logs_cmd"] = analyse(split_lines(r.stdout), kind, n, size)
            if follow:
                p, out = followers[name]
                want = last[name]

                def caught_up():
                    with open(st.path(f"follow-{name}.out"), "rb") as f:
                        return want in f.read()[-(len(want) + 64) * 50:]

                wait_until(caught_up, 15, 0.25)
                time.sleep(0.5)
                p.terminate()
                try:
                    p.wait(3)
                except subprocess.TimeoutExpired:
                    p.kill()
                out.close()
                with open(st.path(f"follow-{name}.out"), "rb") as f:
                    entry["logs_follow"] = analyse(split_lines(f.read()), kind, n, size)
            per[name] = entry
        result = {"panes": per, "ungated": args.loss_ungated, "complete": bool(done), "secs_to_complete": elapsed, "follow_available": follow,
                  "daemon_alive_after": alive(st.daemon), "daemon_pid": st.daemon}
        if not follow:
            result["follow_unavailable_reason"] = follow_why
        result["daemon_rss_after_mib"] = (proc_rss_kib(st.daemon) or 0) / 1024
    finally:
        st.close()
        result["notes"] = st.notes
    print(f"## loss: {args.burst_lines} lines at once, {args.long_lines} x {args.long_bytes // 1024} KiB lines, "
          f"{args.utf8_lines} lines with invalid UTF-8\n")
    if "panes" in result:
        print("| pane | reader | expected | received | lost | duplicated | out of order | bytes altered | "
              "invalid UTF-8 replaced | extra |")
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, entry in result["panes"].items():
            for reader, label in (("pane_log", "pane log file"), ("logs_cmd", "`ctmux logs --no-prefix`"),
                                  ("logs_follow", "`ctmux logs -f --no-prefix`")):
                a = entry.get(reader)
                if a is None:
                    continue
                print(f"| {name} | {label} | {a['expected']} | {a['received']} | {a['lost']} | {a['duplicated']} | "
                      f"{a['out_of_order']} | {a['altered']} | {a['utf8_replaced']} | {a['extra']} |")
        print()
        if not result["follow_available"]:
            print(f"- `ctmux logs -f`: not available in this build ({result['follow_unavailable_reason']})")
        print(f"- all three pane logs complete after {result['secs_to_complete']:.1f} s: {result['complete']}; daemon alive "
              f"afterwards: {result['daemon_alive_after']} (RSS {result['daemon_rss_after_mib']:.1f} MiB)")
        print("- bytes altered = the line is there but its bytes differ from what was printed (other than invalid "
              "UTF-8 replaced by U+FFFD, counted apart); extra = lines that are none of the printed ones")
        if result.get("ungated"):
            print("- ungated: the panes printed from the moment `up` created them, racing the daemon's attach")
    for note in result["notes"]:
        print(f"- note: {note}")
    print()
    return result


# ---------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ctmux", default="target/release/ctmux")
    parser.add_argument("--sections", default="latency,idle,loss,memory", help="comma-separated: " + ",".join(SECTIONS))
    parser.add_argument("--json", help="write every number here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories (manifests, logs)")
    g = parser.add_argument_group("latency")
    g.add_argument("--samples", type=int, default=250, help="markers printed (default 250)")
    g.add_argument("--poll-interval", type=float, default=1.0, help="the seed-style loop's period, s (default 1)")
    g = parser.add_argument_group("idle and memory")
    g.add_argument("--sessions", type=int, default=10)
    g.add_argument("--panes", type=int, default=10, help="panes per session (default 10)")
    g.add_argument("--settle", type=float, default=3.0, help="s to wait before measuring idle (default 3)")
    g.add_argument("--idle-secs", type=float, default=60.0)
    g.add_argument("--memory-secs", type=float, default=600.0)
    g.add_argument("--memory-interval", type=float, default=10.0, help="RSS sampling period, s (default 10)")
    g.add_argument("--line-ms", type=float, default=10.0, help="each pane prints a line this often (default 10)")
    g.add_argument("--quiet-progress", action="store_true", help="no RSS progress lines on stderr")
    g = parser.add_argument_group("loss")
    g.add_argument("--burst-lines", type=int, default=200_000)
    g.add_argument("--long-lines", type=int, default=200)
    g.add_argument("--long-bytes", type=int, default=10 * 1024)
    g.add_argument("--utf8-lines", type=int, default=2000)
    g.add_argument("--loss-timeout", type=float, default=180.0)
    g.add_argument("--loss-ungated", action="store_true",
                   help="start printing as soon as `up` creates the panes, before the daemon attaches")
    args = parser.parse_args()

    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    for s in sections:
        if s not in SECTIONS:
            parser.error(f"unknown section {s!r} (choose from {', '.join(SECTIONS)})")
    if not os.access(args.ctmux, os.X_OK):
        parser.error(f"{args.ctmux} not built (cargo build --release)")
    if not shutil.which("tmux"):
        parser.error("tmux not found")
    args.ctmux = os.path.abspath(args.ctmux)

    print("## versions\n")
    print("- " + subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.strip())
    print("- " + subprocess.run([args.ctmux, "--version"], capture_output=True, text=True).stdout.strip())
    print(f"- {os.cpu_count()} CPUs, python {sys.version.split()[0]}, clock tick {TICKS} Hz, load average at start "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()) + "\n", flush=True)

    results = {}
    failed = False
    for name in sections:
        fn = {"latency": section_latency, "idle": section_idle, "memory": section_memory, "loss": section_loss}[name]
        try:
            results[name] = fn(args)
            results[name]["loadavg_after"] = os.getloadavg()
            print("(load average after this section: " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + ")\n")
        except Exception as e:  # one broken section does not hide the others' numbers
            failed = True
            print(f"## {name}: FAILED: {e}\n", flush=True)
            results[name] = {"error": str(e)}
        sys.stdout.flush()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
