#!/usr/bin/env python3
"""Side-by-side workspace build times: ctmux vs tmuxp vs tmuxinator vs the tmux floor.

Every tool builds the same workspace (N windows x 5 panes, tiled, every pane `sleep 1000`) on its
own private tmux server (`tmux -L ctmux-bench-...`, `-f /dev/null`), alternated round-robin in one
run. A sample counts from the tool's start until it returns; then the pane count is checked (a
build that did not make every pane is an error, not a number) and the server is killed.

  floor       one `tmux` invocation with every command chained (argv, no shell) — the least any
              tool driving tmux from outside can spend
  tmuxp       tmuxp load -d (Debian package)
  tmuxinator  tmuxinator start -p ... (Debian package)
  ctmux       ctmux up on the equivalent manifest (starts the daemon, which attaches to the new
              session before any pane command runs)
  ctmux-no-daemon  the same with --no-daemon
  ctmux-noop  a second ctmux up on the already-built workspace (must change nothing)

A last row times `down` against `up` of a mixed stack (see mixed_stack; --down-panes).

Usage: bench/compare.py [--ctmux target/release/ctmux] [--runs 7] [--sizes 50,100] [--json out.json]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

PANES_PER_WINDOW = 5
COMMAND = "sleep 1000"


def tmux(sock, *args, check=False):
    return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True, check=check)


def kill(sock):
    tmux(sock, "kill-server")
    uid = os.getuid()
    path = os.path.join(os.environ.get("TMUX_TMPDIR", "/tmp"), f"tmux-{uid}", sock)
    for _ in range(50):  # the server unlinks nothing; wait until it is gone, then remove the socket
        if tmux(sock, "list-sessions").returncode != 0:
            break
        time.sleep(0.02)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def pane_count(sock):
    out = tmux(sock, "list-panes", "-a").stdout
    return len(out.splitlines())


def floor_argv(windows):
    argv = ["tmux", "-f", "/dev/null"]
    cmds = []
    for w in range(windows):
        if w == 0:
            cmds.append(["new-session", "-d", "-s", "bench", "-n", "w0", "-x", "240", "-y", "60", COMMAND])
        else:
            cmds.append(["new-window", "-d", "-t", "bench:", "-n", f"w{w}", COMMAND])
        for _ in range(PANES_PER_WINDOW - 1):
            cmds.append(["split-window", "-t", f"bench:w{w}", COMMAND])
            cmds.append(["select-layout", "-t", f"bench:w{w}", "tiled"])
    chained = []
    for i, c in enumerate(cmds):
        if i:
            chained.append(";")
        chained.extend(c)
    return argv, chained


def write_configs(directory, windows):
    tmuxp = ["session_name: bench", "windows:"]
    tmuxinator = ["name: bench", "root: " + directory, "attach: false", "tmux_options: -f /dev/null", "windows:"]
    ctmux = ["version: 1", "name: bench", "sessions:", "  bench:", "    windows:"]
    for w in range(windows):
        tmuxp += [f"  - window_name: w{w}", "    layout: tiled", "    panes:"]
        tmuxp += [f"      - {COMMAND}"] * PANES_PER_WINDOW
        tmuxinator += [f"  - w{w}:", "      layout: tiled", "      panes:"]
        tmuxinator += [f"        - {COMMAND}"] * PANES_PER_WINDOW
        ctmux += [f"      w{w}:", "        layout: tiled", "        panes:"]
        ctmux += [f"          w{w}p{p}: {COMMAND}" for p in range(PANES_PER_WINDOW)]
    paths = {}
    for name, lines in (("tmuxp", tmuxp), ("tmuxinator", tmuxinator), ("ctmux", ctmux)):
        path = os.path.join(directory, f"{name}-{windows}.yml" if name != "ctmux" else f"ctmux-{windows}.yaml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        paths[name] = path
    return paths


def ctmux_up(ctmux, sock, manifest, state, daemon=True):
    """The ctmux command line, in one place so it is easy to adjust. By default `up` starts the
    daemon and lets it attach to each new session before any command runs (so it logs every
    byte); `--no-daemon` builds the same workspace without it."""
    env = dict(os.environ, CTMUX_STATE_DIR=state, XDG_RUNTIME_DIR=state, CTMUX_TMUX_CONF="/dev/null")
    flags = [] if daemon else ["--no-daemon"]
    return subprocess.run([ctmux, "-q", "-L", sock, "-f", manifest, "up", *flags], env=env,
                          capture_output=True, text=True)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def sample(tool, windows, paths, args, sock, state):
    expected = windows * PANES_PER_WINDOW
    env_tmuxinator = dict(os.environ, HOME=state)
    if tool == "floor":
        argv, chained = floor_argv(windows)
        seconds, r = timed(lambda: subprocess.run(argv[:1] + ["-L", sock] + argv[1:] + chained, capture_output=True, text=True))
    elif tool == "tmuxp":
        seconds, r = timed(lambda: subprocess.run(["tmuxp", "load", "-d", "-y", "-L", sock, "-f", "/dev/null", paths["tmuxp"]],
                                                  capture_output=True, text=True, stdin=subprocess.DEVNULL))
    elif tool == "tmuxinator":
        cfg = paths["tmuxinator"]
        with open(cfg) as f:
            text = f.read()
        with open(cfg, "w") as f:
            f.write("socket_name: " + sock + "\n" + "\n".join(l for l in text.splitlines() if not l.startswith("socket_name:")) + "\n")
        seconds, r = timed(lambda: subprocess.run(["tmuxinator", "start", "-p", cfg, "--no-attach"], capture_output=True, text=True,
                                                  stdin=subprocess.DEVNULL, env=env_tmuxinator))
    elif tool == "ctmux":
        seconds, r = timed(lambda: ctmux_up(args.ctmux, sock, paths["ctmux"], state))
    elif tool == "ctmux-no-daemon":
        seconds, r = timed(lambda: ctmux_up(args.ctmux, sock, paths["ctmux"], state, daemon=False))
    elif tool == "ctmux-noop":
        built = ctmux_up(args.ctmux, sock, paths["ctmux"], state)
        if built.returncode != 0:
            raise RuntimeError(f"ctmux setup failed: {built.stderr}")
        seconds, r = timed(lambda: ctmux_up(args.ctmux, sock, paths["ctmux"], state))
    else:
        raise ValueError(tool)
    if r.returncode != 0:
        raise RuntimeError(f"{tool} failed ({r.returncode}): {r.stderr.strip()[:500]}")
    count = pane_count(sock)
    if count != expected:
        raise RuntimeError(f"{tool} built {count} panes, expected {expected}")
    return seconds


def mixed_stack(directory, panes):
    """A stack people run, for the `down` row: per window of 6 panes an idle shell, an HTTP
    server, a server that logs, a shell running a program, a job-like sleeper and a server that
    waits on window 0's; window 0 also holds a process that ignores SIGTERM (`stop.timeout: 2s`)."""
    lines = ["version: 1", "name: mixed", "sessions:"]
    per_session = 30
    for w in range(panes // 6):
        if w % (per_session // 6) == 0:
            lines += [f"  s{w // (per_session // 6)}:", "    windows:"]
        lines += [f"      w{w}:", "        layout: tiled", "        panes:",
                  f"          sh{w}: {{}}",
                  f"          http{w}: exec python3 -m http.server 0 --bind 127.0.0.1",
                  f"          log{w}: while true; do echo tick; sleep 0.2; done",
                  f"          prog{w}: sleep 1000; echo done",
                  f"          sleep{w}: exec sleep 1000"]
        if w == 0:
            lines += ["          stubborn: { command: \"trap '' TERM; while :; do sleep 1; done\", stop: { timeout: 2s } }"]
        else:
            lines += [f"          dep{w}: {{ command: exec sleep 1000, depends_on: [s0/http0] }}"]
    path = os.path.join(directory, f"mixed-{panes}.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def down_rows(ctmux, runs, panes, directory):
    """`up` then `down` of the mixed stack, each timed, on a fresh server per run; `down` must
    leave no pane and no process of the stack (its `sleep 1000`s and servers) behind."""
    manifest = mixed_stack(directory, panes)
    ups, downs = [], []
    for run in range(runs):
        sock = f"ctmux-bench-down-{os.getpid()}-{run}"
        state = tempfile.mkdtemp(dir=directory)
        env = dict(os.environ, CTMUX_STATE_DIR=state, XDG_RUNTIME_DIR=state, CTMUX_TMUX_CONF="/dev/null")
        base = [ctmux, "-q", "-L", sock, "-f", manifest]
        try:
            up_s, r = timed(lambda: subprocess.run(base + ["up"], env=env, capture_output=True, text=True))
            if r.returncode != 0 or pane_count(sock) != panes:
                raise RuntimeError(f"up failed ({r.returncode}, {pane_count(sock)} panes): {r.stderr.strip()[:500]}")
            time.sleep(1)  # every server listening, the stubborn pane's trap set
            down_s, r = timed(lambda: subprocess.run(base + ["down"], env=env, capture_output=True, text=True))
            if r.returncode != 0 or tmux(sock, "list-panes", "-a").stdout.strip():
                raise RuntimeError(f"down failed ({r.returncode}): {r.stderr.strip()[:500]}")
            ups.append(up_s)
            downs.append(down_s)
        finally:
            subprocess.run(base + ["daemon", "stop"], env=env, capture_output=True)
            kill(sock)
    up_m, down_m = statistics.median(ups), statistics.median(downs)
    print(f"\n## down of a mixed stack ({panes} panes: shells, servers, a SIGTERM-ignorer with stop.timeout 2s)\n")
    print("| step | median s | min s | max s |")
    print("| --- | ---: | ---: | ---: |")
    for name, v in (("up", ups), ("down", downs)):
        print(f"| {name} | {statistics.median(v):.2f} | {min(v):.2f} | {max(v):.2f} |")
    print(f"\ndown / up = {down_m / up_m:.2f} (target <= 1.5)")
    return {"up": ups, "down": downs}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ctmux", default="target/release/ctmux")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sizes", default="50,100", help="pane counts (multiples of 5)")
    parser.add_argument("--json", help="write raw samples here")
    parser.add_argument("--down-panes", type=int, default=120, help="`down` row: panes of the mixed stack (0: skip)")
    args = parser.parse_args()

    tools = ["floor"]
    for name in ("tmuxp", "tmuxinator"):
        if shutil.which(name):
            tools.append(name)
        else:
            print(f"note: {name} not installed (apt-get install {name}); skipped", file=sys.stderr)
    if os.access(args.ctmux, os.X_OK):
        args.ctmux = os.path.abspath(args.ctmux)
        tools += ["ctmux", "ctmux-no-daemon", "ctmux-noop"]
    else:
        print(f"note: {args.ctmux} not built (cargo build --release); ctmux skipped", file=sys.stderr)

    print("## versions\n")
    print("- " + subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.strip())
    if "tmuxp" in tools:
        print("- " + subprocess.run(["tmuxp", "--version"], capture_output=True, text=True).stdout.strip())
    if "tmuxinator" in tools:
        print("- tmuxinator " + subprocess.run(["tmuxinator", "version"], capture_output=True, text=True).stdout.strip().split()[-1])
    if "ctmux" in tools:
        print("- " + subprocess.run([args.ctmux, "--version"], capture_output=True, text=True).stdout.strip())
    print(f"- {os.cpu_count()} CPUs, {args.runs} runs per tool, tools alternated round-robin\n")

    results = {}
    with tempfile.TemporaryDirectory(prefix="ctmux-bench-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            windows = size // PANES_PER_WINDOW
            paths = write_configs(tmp, windows)
            samples = {t: [] for t in tools}
            for run in range(args.runs):
                order = tools[run % len(tools):] + tools[:run % len(tools)]
                for tool in order:
                    sock = f"ctmux-bench-{tool}-{os.getpid()}-{size}-{run}"
                    state = tempfile.mkdtemp(dir=tmp)
                    try:
                        samples[tool].append(sample(tool, windows, paths, args, sock, state))
                    finally:
                        kill(sock)
            results[size] = samples
            report(size, samples)
        if "ctmux" in tools and args.down_panes:
            results["down"] = down_rows(args.ctmux, args.runs, args.down_panes, tmp)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({str(k): v for k, v in results.items()}, f, indent=2)


def report(size, samples):
    med = {t: statistics.median(v) for t, v in samples.items()}
    print(f"## {size} panes ({size // PANES_PER_WINDOW} windows x {PANES_PER_WINDOW}, tiled)\n")
    print("| tool | median | min | max | samples | vs floor | ctmux is faster by |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for tool, values in samples.items():
        vs_floor = f"{med[tool] / med['floor']:.2f}x"
        faster = f"{med[tool] / med['ctmux']:.1f}x" if "ctmux" in med and tool in ("tmuxp", "tmuxinator") else ""
        print(f"| {tool} | {med[tool] * 1000:.0f} ms | {min(values) * 1000:.0f} ms | {max(values) * 1000:.0f} ms | "
              f"{len(values)} | {vs_floor} | {faster} |")
    print()


if __name__ == "__main__":
    main()
