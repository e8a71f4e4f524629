#!/usr/bin/env python3
"""Hand-off latency (issue 20, item 12): how long after its dependency is ready does a waiting
pane start?

Each round builds a fresh private tmux server (`tmux -L ctmux-bench-handoff-…`, `-f /dev/null`)
with 9 panes: `a` prints `READY <its clock>` after 0.5 s (`ready_when: READY`), `b` depends on
`a: healthy` and prints `START <its clock>` first thing (bash's `$EPOCHREALTIME`, no process
spawned for the clock; bash's own start, a few ms, is counted), 7 panes sleep. The latency is
START − READY, read from the panes' logs. Modes: `up` (plain: the daemon starts `b`) and
`up --wait` (the `up` process waits for health and starts `b`, or hands it over).

    cargo build && python3 bench/handoff.py --runs 30 [--ctmux target/debug/ctmux]
"""

import argparse
import glob
import os
import statistics
import subprocess
import sys
import tempfile
import time

MANIFEST = """version: 1
name: handoff
sessions:
  s:
    panes:
      a:
        command: "sleep 0.5; echo READY $$EPOCHREALTIME; exec sleep 1000"
        ready_when: READY
      b:
        command: "echo START $$EPOCHREALTIME; exec sleep 1000"
        depends_on: {{ a: healthy }}
{sleepers}
shell: /bin/bash
"""


def line_value(path, word):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                text = line.split("\t", 1)[-1].strip()
                if text.startswith(word + " "):
                    return float(text.split()[1].replace(",", "."))
    except FileNotFoundError:
        pass
    return None


def one(ctmux, wait, n):
    name = f"ctmux-bench-handoff-{os.getpid()}-{n}"
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as work, tempfile.TemporaryDirectory(
        ignore_cleanup_errors=True
    ) as state:
        os.chmod(state, 0o700)
        sleepers = "".join(f"      p{i}: exec sleep 1000\n" for i in range(7))
        with open(os.path.join(work, "ctmux.yaml"), "w") as f:
            f.write(MANIFEST.format(sleepers=sleepers))
        env = dict(os.environ, CTMUX_STATE_DIR=state, XDG_RUNTIME_DIR=state, CTMUX_TMUX_CONF="/dev/null")
        env.pop("TMUX", None)
        args = [ctmux, "-L", name, "up"] + (["--wait", "--timeout", "30s"] if wait else [])
        try:
            subprocess.run(args, cwd=work, env=env, check=True, capture_output=True)
            deadline = time.time() + 15
            ready = start = None
            while time.time() < deadline and (ready is None or start is None):
                for path in glob.glob(os.path.join(state, "logs", "*", "handoff", "s", "*.log")):
                    if path.endswith("/a.log"):
                        ready = ready or line_value(path, "READY")
                    if path.endswith("/b.log"):
                        start = start or line_value(path, "START")
                time.sleep(0.05)
            if ready is None or start is None:
                raise RuntimeError(f"round {n}: READY {ready}, START {start}")
            return (start - ready) * 1000
        finally:
            subprocess.run([ctmux, "-L", name, "down"], cwd=work, env=env, capture_output=True)
            subprocess.run([ctmux, "-L", name, "daemon", "stop"], cwd=work, env=env, capture_output=True)
            subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True)
            sock = os.path.join(os.environ.get("TMUX_TMPDIR", "/tmp"), f"tmux-{os.getuid()}", name)
            if os.path.exists(sock):
                os.remove(sock)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--ctmux", default="target/debug/ctmux")
    a = ap.parse_args()
    n = 0
    for mode, wait in (("up", False), ("up --wait", True)):
        xs = []
        for _ in range(a.runs):
            n += 1
            xs.append(one(os.path.abspath(a.ctmux), wait, n))
        print(
            f"| {mode} | {len(xs)} | {statistics.median(xs):.1f} ms | {pct(xs, 90):.1f} ms | "
            f"{pct(xs, 99):.1f} ms | {max(xs):.1f} ms |",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
