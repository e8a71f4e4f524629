#!/usr/bin/env python3
"""The ctmux daemon under faults: figures for the "Faults" table in docs/benchmarks.md.

Each section brings its own manifest up with `ctmux -L SOCK up` on a private tmux server
(`tmux -L ctmux-bench-faults-...`, CTMUX_TMUX_CONF=/dev/null, tmux's default options), with
CTMUX_STATE_DIR and XDG_RUNTIME_DIR in a temporary directory; teardown kills the server and
anything the section left (by pid, never by name).

  kill    a pane prints `seq 1 --burst` (200,000) lines; when --kill-at (20,000) are logged the
          daemon gets SIGKILL; --down s later (0) `ctmux daemon start` (the same for both
          builds). Once `END` is logged (or --settle s pass): lines lost and repeated in the pane
          log, control clients attached with parent 1 (the killed daemon's, orphaned), and
          `log.gap` events (builds that have them). --runs times.
  long    pane `flood` prints --long-mb MB without a newline (then `echo; echo DONE`); pane
          `tick` in another session prints `T<ms>` every 50 ms. Reported: the neighbour's log
          latency (log time - print time), median and max, and how long the flood took to be
          logged (capped at --long-timeout s).
  flood   a pane prints 1,000 lines that match a rule whose `run` sleeps 0.3 s. The daemon's
          direct `sh` children are counted every 10 ms: the peak. Also: actions run, and drops
          recorded as `rule.dropped` (builds that have it).

Usage: bench/faults.py --ctmux target/debug/ctmux [--sections kill,long,flood] [--runs 3]
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time


class Stack:
    def __init__(self, ctmux, name, manifest):
        self.ctmux = os.path.abspath(ctmux)
        self.dir = tempfile.mkdtemp(prefix="ctmux-bench-faults-")
        self.sock = f"ctmux-bench-faults-{os.getpid()}-{name}"
        self.env = dict(os.environ, CTMUX_STATE_DIR=self.dir + "/state", XDG_RUNTIME_DIR=self.dir + "/state",
                        CTMUX_TMUX_CONF="/dev/null", NO_COLOR="1")
        self.env.pop("TMUX", None)
        os.makedirs(self.dir + "/state", mode=0o700)
        with open(self.dir + "/ctmux.yaml", "w") as f:
            f.write(manifest)

    def run(self, *args, check=True):
        out = subprocess.run([self.ctmux, "-L", self.sock, *args], cwd=self.dir, env=self.env,
                             capture_output=True, text=True, timeout=120)
        if check and out.returncode != 0:
            raise RuntimeError(f"ctmux {args}: {out.returncode}\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.sock, *args], capture_output=True, text=True).stdout

    def log(self, rel):
        try:
            with open(f"{self.dir}/state/logs/{rel}", "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def daemon_pid(self):
        return json.loads(self.run("--json", "daemon", "status"))["status"]["pid"]

    def close(self):
        pids = [int(p) for p in self.tmux("list-clients", "-F", "#{client_pid}").split()]
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True)
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


def wait(pred, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def numbers(data):
    out = []
    for line in data.split(b"\n"):
        _, _, raw = line.partition(b"\t")
        if raw.isdigit():
            out.append(int(raw))
    return out


def kill_section(args):
    rows = []
    for run in range(args.runs):
        s = Stack(args.ctmux, f"kill{run}", f"""version: 1
name: kill
sessions:
  b:
    panes:
      p: "sleep 0.5; seq 1 {args.burst}; echo END; exec sleep 100000"
""")
        try:
            s.run("up")
            assert wait(lambda: len(numbers(s.log("kill/b/p.log"))) >= args.kill_at, 60), "burst did not start"
            os.kill(s.daemon_pid(), signal.SIGKILL)
            time.sleep(args.down)
            s.run("daemon", "start")
            wait(lambda: b"\tEND\n" in s.log("kill/b/p.log"), args.settle)
            # Control clients adopted by init: the killed daemon's.
            orphans = 0
            for pid in s.tmux("list-clients", "-F", "#{client_pid}").split():
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        stat = f.read()
                    orphans += int(stat[stat.rfind(")") + 2:].split()[1]) == 1
                except OSError:
                    pass
            got = numbers(s.log("kill/b/p.log"))
            lost = args.burst - len(set(got))
            repeated = len(got) - len(set(got))
            out = s.run("--json", "events", "--kind", "log.gap", check=False)
            try:
                gaps = len(json.loads(out)["events"])
            except (ValueError, KeyError):
                gaps = None
            rows.append({"lost": lost, "repeated": repeated, "orphan_clients": orphans, "log_gap_events": gaps})
            print(f"kill run {run}: lost {lost}, repeated {repeated}, orphan clients {orphans}, "
                  f"log.gap events {gaps}", flush=True)
        finally:
            s.close()
    return rows


def long_section(args):
    s = Stack(args.ctmux, "long", f"""version: 1
name: long
sessions:
  flood:
    panes:
      x: "sleep 1; head -c {args.long_mb * 1000000} /dev/zero | tr '\\\\0' x; echo; echo DONE; exec sleep 100000"
  calm:
    panes:
      tick: "while :; do echo T$(date +%s%3N); sleep 0.05; done"
""")
    try:
        s.run("up")
        start = time.time()
        done = wait(lambda: b"\tDONE\n" in s.log("long/flood/x.log"), args.long_timeout)
        took = time.time() - start
        lat = []
        for line in s.log("long/calm/tick.log").split(b"\n"):
            ts, _, raw = line.partition(b"\t")
            if raw.startswith(b"T") and raw[1:].isdigit():
                lat.append(int(ts.rstrip(b"+")) - int(raw[1:]))
        lat.sort()
        row = {"mb": args.long_mb, "flood_logged": done, "seconds": round(took, 1),
               "median_ms": lat[len(lat) // 2] if lat else None, "max_ms": lat[-1] if lat else None,
               "samples": len(lat)}
        print(f"long: {row}", flush=True)
        return row
    finally:
        s.close()


def children(pid, comm):
    n = 0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                stat = f.read()
            with open(f"/proc/{p}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        if int(stat[stat.rfind(")") + 2:].split()[1]) == pid and name == comm:
            n += 1
    return n


def flood_section(args):
    s = Stack(args.ctmux, "flood", """version: 1
name: flood
shell: /bin/sh
sessions:
  s:
    panes:
      p:
        command: "sleep 2; seq 1 1000 | sed 's/^/HIT /'; exec sleep 100000"
        on:
          - { match: '^HIT', do: { run: 'echo x >> ran.txt; sleep 0.3' } }
""")
    try:
        s.run("up")
        pid = s.daemon_pid()
        peak, end = 0, time.time() + 60
        seen_any = False
        while time.time() < end:
            n = children(pid, "sh")
            peak = max(peak, n)
            seen_any |= n > 0
            if seen_any and n == 0:
                time.sleep(1.5)
                if children(pid, "sh") == 0:
                    break
            time.sleep(0.01)
        try:
            with open(s.dir + "/ran.txt") as f:
                ran = len(f.read().splitlines())
        except FileNotFoundError:
            ran = 0
        out = s.run("--json", "events", "--kind", "rule.dropped", check=False)
        try:
            dropped = sum(e["data"]["dropped"] for e in json.loads(out)["events"])
        except (ValueError, KeyError):
            dropped = None
        row = {"peak_shells": peak, "ran": ran, "dropped": dropped}
        print(f"flood: {row}", flush=True)
        return row
    finally:
        s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ctmux", default="target/debug/ctmux")
    ap.add_argument("--sections", default="kill,long,flood")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--burst", type=int, default=200_000)
    ap.add_argument("--kill-at", type=int, default=20_000)
    ap.add_argument("--settle", type=float, default=60)
    ap.add_argument("--down", type=float, default=0.0)
    ap.add_argument("--long-mb", type=int, default=8)
    ap.add_argument("--long-timeout", type=float, default=120)
    ap.add_argument("--json")
    args = ap.parse_args()
    out = {}
    for section in args.sections.split(","):
        out[section] = {"kill": kill_section, "long": long_section, "flood": flood_section}[section](args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
