#!/usr/bin/env python3
"""How managed panes' output reaches their logs, measured three ways (issue 19):

  sink     this build: `pipe-pane` into `ctmux-sink` per pane, the command run by the sink
           binary's runner, the daemon following the logs (--ctmux, default target/debug/ctmux)
  script   design (b)'s stand-in, a pty relay: each pane runs `script -qfec CMD LOG`
           (util-linux) on a plain tmux server, no ctmux
  control  the old path: the daemon's control-mode clients (--old-ctmux, a build of main)

Sections (--sections, default all):
  loss     N panes (--panes 1,20) each `seq 1 L; echo FATAL-<i>; exit 3` (--lines 5000,50000),
           all started in one tmux call; once every pane is dead and the logs stopped growing,
           count the lines each log lacks and whether its FATAL line is there; for ctmux, the
           `pattern.matched` events of a rule on `^FATAL-` (rules fired).
  latency  one pane prints `MARK <wall-clock ns>` every 20 ms (--samples); a reader polls the log
           every 0.2 ms: line -> log latency; for ctmux also an `on:` rule whose `run` appends
           `$CTMUX_MATCH_T $(date +%s%N)` (fork sh + date included): line -> rule action.
  memory   100 panes in 10 sessions of `sleep 100000` (with --memory-burst N, `seq 1 N` first)
           with a never-matching rule; after 5 s, the sum of Pss (/proc/PID/smaps_rollup) of
           everything ctmux runs for them: the daemon, its children (control clients), the sinks
           and runners (or the 100 `script`s); also the mean Pss of one sink and of one runner.
  idle     the same 100 panes: the daemon's CPU ticks (utime+stime) over --idle-secs (60).

Each run uses its own tmux server (-L ctmux-bench-cap-PID-N, CTMUX_TMUX_CONF=/dev/null), state
and runtime directories in a temporary directory; the server is killed at the end.

Usage: bench/capture.py [--ctmux target/debug/ctmux] [--old-ctmux PATH] [--sections ...]
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

N = [0]
TICKS = os.sysconf("SC_CLK_TCK")


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))] if v else float("nan")


class Run:
    def __init__(self, kind, binary):
        N[0] += 1
        self.kind, self.binary = kind, binary
        self.sock = f"ctmux-bench-cap-{os.getpid()}-{N[0]}"
        self.tmp = tempfile.mkdtemp(prefix="ctmux-bench-cap-")
        os.chmod(self.tmp, 0o700)
        self.env = dict(os.environ, CTMUX_STATE_DIR=self.tmp + "/state", XDG_RUNTIME_DIR=self.tmp,
                        CTMUX_TMUX_CONF="/dev/null", NO_COLOR="1")
        self.env.pop("TMUX", None)

    def ctmux(self, *args, check=True):
        r = subprocess.run([self.binary, "-f", self.tmp + "/ctmux.yaml", "-L", self.sock, *args], env=self.env,
                           capture_output=True, text=True, timeout=300)
        if check and r.returncode != 0:
            raise SystemExit(f"ctmux {args}: {r.stderr}")
        return r.stdout

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null", *args], env=self.env,
                              capture_output=True, text=True).stdout

    def log(self, project, session, pane):
        if self.kind == "control":
            return f"{self.tmp}/state/logs/{project}/{session}/{pane}.log"
        if self.kind == "script":
            return f"{self.tmp}/{session}-{pane}.log"
        server = f"tmp/tmux-{os.getuid()}/{self.sock}".replace("/", "_")
        return f"{self.tmp}/state/logs/{server}/{project}/{session}/{pane}.log"

    def up(self, project, sessions):
        """sessions: {session: {pane: (command, rule_yaml or None)}}"""
        if self.kind == "script":
            for s, panes in sessions.items():  # one call per session: tmux takes at most 16 KiB of argv
                cmds = []
                for i, (p, (command, _)) in enumerate(panes.items()):
                    log = self.log(project, s, p)
                    argv = ["script", "-qfec", command, log]
                    if i == 0:
                        cmds += [["new-session", "-d", "-s", s, "-x", "240", "-y", "60", *argv]]
                    else:
                        cmds += [["split-window", "-t", f"={s}:", *argv], ["select-layout", "-t", f"={s}:", "tiled"]]
                    cmds += [["set-option", "-w", "-t", f"={s}:", "remain-on-exit", "on"]]
                flat = []
                for c in cmds:
                    flat += (c + [";"])
                self.tmux(*flat[:-1])
            return
        y = [f"version: 1\nname: {project}\nshell: /bin/sh\nsessions:"]
        for s, panes in sessions.items():
            y.append(f"  {s}:\n    panes:")
            for p, (command, rule) in panes.items():
                y.append(f"      {p}:\n        command: {json.dumps(command)}")
                if rule:
                    y.append(f"        on:\n          - {rule}")
        with open(self.tmp + "/ctmux.yaml", "w") as f:
            f.write("\n".join(y).replace("$", "$$") + "\n")
        self.ctmux("up")

    def daemon_pid(self):
        if self.kind == "script":
            return None
        out = self.ctmux("--json", "daemon", "status", check=False)
        try:
            return json.loads(out)["status"]["pid"]
        except Exception:
            return None

    def close(self):
        pid = self.daemon_pid()
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True)
        if pid:
            for _ in range(50):
                if not os.path.exists(f"/proc/{pid}"):
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, 9)
        try:
            os.unlink(f"/tmp/tmux-{os.getuid()}/{self.sock}")
        except FileNotFoundError:
            pass
        time.sleep(0.3)
        shutil.rmtree(self.tmp, ignore_errors=True)


def read_lines(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    out = []
    for line in data.split(b"\n"):
        if b"\t" in line[:20]:
            line = line.split(b"\t", 1)[1]
        out.append(line.rstrip(b"\r").decode("utf-8", "replace"))
    return [x for x in out if x]


def all_dead(run):
    out = run.tmux("list-panes", "-a", "-F", "#{pane_dead}")
    return out and all(x == "1" for x in out.split())


def section_loss(args, kinds):
    print("## loss: N panes print L lines, FATAL-<i>, and exit 3\n")
    print("| path | panes | lines each | lines lost (total) | panes missing FATAL | rules fired | wall s |")
    print("|---|---|---|---|---|---|---|")
    for panes in args.panes:
        for lines in args.lines:
            for kind, binary in kinds:
                run = Run(kind, binary)
                try:
                    cmd = {f"p{i}": (f"seq 1 {lines}; echo FATAL-{i}; exit 3", "{ match: '^FATAL-', do: event }")
                           for i in range(panes)}
                    t0 = time.time()
                    run.up("loss", {"s": cmd})
                    deadline = time.time() + 120
                    while time.time() < deadline and not all_dead(run):
                        time.sleep(0.1)
                    sizes = None
                    while time.time() < deadline:  # logs stopped growing
                        now = [os.path.getsize(run.log("loss", "s", p)) if os.path.exists(run.log("loss", "s", p)) else 0
                               for p in cmd]
                        if now == sizes:
                            break
                        sizes = now
                        time.sleep(1.5)
                    wall = time.time() - t0
                    lost = missing = 0
                    for i, p in enumerate(cmd):
                        got = read_lines(run.log("loss", "s", p))
                        nums = {x for x in got if x.isdigit()}
                        lost += lines - len(nums)
                        if f"FATAL-{i}" not in got:
                            lost += 1
                            missing += 1
                    fired = "-"
                    if kind != "script":
                        ev = json.loads(run.ctmux("--json", "events", "--kind", "pattern.matched", check=False) or "{}")
                        fired = f"{len(ev.get('events', []))}/{panes}"
                    print(f"| {kind} | {panes} | {lines} | {lost} of {panes * (lines + 1)} | {missing} | {fired} | {wall:.1f} |",
                          flush=True)
                finally:
                    run.close()
    print()


MARKER = "import sys,time\nfor i in range(int(sys.argv[1])):\n    print('MARK', time.time_ns(), flush=True)\n    time.sleep(0.02)\n"


def section_latency(args, kinds):
    print(f"## latency: line printed -> line in the log / rule action ({args.samples} lines, one every 20 ms)\n")
    print("| path | what | n | p50 ms | p90 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|---|")
    for kind, binary in kinds:
        run = Run(kind, binary)
        try:
            prog = run.tmp + "/marker.py"
            with open(prog, "w") as f:
                f.write(MARKER)
            fired = run.tmp + "/fired"
            rule = None if kind == "script" else \
                "{ match: 'MARK (?P<t>\\d+)', do: { run: 'echo \"$CTMUX_MATCH_T $(date +%s%N)\" >> " + fired + "' } }"
            go = run.tmp + "/go"
            command = f"while [ ! -e {go} ]; do sleep 0.05; done; python3 {prog} {args.samples}; exec sleep 100000"
            run.up("lat", {"s": {"m": (command, rule)}})
            time.sleep(2)
            path = run.log("lat", "s", "m")
            open(go, "w").close()
            seen, lat, buf, pos = set(), [], b"", 0
            deadline = time.time() + args.samples * 0.02 + 30
            while len(seen) < args.samples and time.time() < deadline:
                try:
                    with open(path, "rb") as f:
                        f.seek(pos)
                        chunk = f.read()
                except FileNotFoundError:
                    chunk = b""
                now = time.time_ns()
                if chunk:
                    pos += len(chunk)
                    buf += chunk
                    *complete, buf = buf.split(b"\n")
                    for line in complete:
                        parts = line.rstrip(b"\r").split(b"MARK ")
                        if len(parts) == 2 and parts[1].isdigit() and parts[1] not in seen:
                            seen.add(parts[1])
                            lat.append((now - int(parts[1])) / 1e6)
                else:
                    time.sleep(0.0002)
            row = lambda what, v: print(f"| {kind} | {what} | {len(v)} | {pct(v, 50):.2f} | {pct(v, 90):.2f} | "
                                        f"{pct(v, 99):.2f} | {max(v) if v else float('nan'):.2f} |", flush=True)
            row("line -> log", lat)
            if rule:
                time.sleep(2)
                rl = []
                for line in open(fired).read().split("\n") if os.path.exists(fired) else []:
                    a = line.split()
                    if len(a) == 2:
                        rl.append((int(a[1]) - int(a[0])) / 1e6)
                row("line -> rule `run`", rl)
        finally:
            run.close()
    print()


def pss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def procs():
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                cmd = open(f"/proc/{d}/cmdline", "rb").read().split(b"\0")
                ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
                out[int(d)] = (cmd, ppid)
            except OSError:
                pass
    return out


def section_memory_idle(args, kinds, do_memory, do_idle):
    if do_memory:
        print("## memory: 100 panes in 10 sessions (sum of Pss, /proc/PID/smaps_rollup)\n")
        print("| path | processes | Pss MiB total | of which daemon | per sink KiB | per runner KiB | idle CPU ticks/min (daemon) |")
        print("|---|---|---|---|---|---|---|")
    for kind, binary in kinds:
        run = Run(kind, binary)
        try:
            rule = None if kind == "script" else "{ match: 'never-(?P<x>zzz)', do: event }"
            command = f"seq 1 {args.memory_burst}; exec sleep 100000" if args.memory_burst else "exec sleep 100000"
            sessions = {f"s{s}": {f"p{p}": (command, rule) for p in range(10)} for s in range(10)}
            run.up("mem", sessions)
            time.sleep(5)
            daemon = run.daemon_pid()
            table = procs()
            mine, sinks, runners = set(), set(), set()
            if daemon:
                mine.add(daemon)
                mine |= {p for p, (_, pp) in table.items() if pp == daemon}
            for p, (cmd, _) in table.items():
                text = b" ".join(cmd)
                if (b"ctmux-sink" in text or b"__sink" in text) and run.sock.encode() in text:
                    mine.add(p)
                    sinks.add(p)
                if kind == "script" and cmd[0] == b"script" and run.tmp.encode() in text:
                    mine.add(p)
            # runners: the panes' own processes (ctmux-sink --run)
            panes = run.tmux("list-panes", "-a", "-F", "#{pane_pid}").split()
            for p in panes:
                cmd = table.get(int(p), ([b""], 0))[0]
                if b"--run" in cmd or (kind == "script" and cmd[0] == b"script"):
                    mine.add(int(p))
                    if b"--run" in cmd:
                        runners.add(int(p))
            total = sum(pss_kib(p) for p in mine) / 1024
            dpss = pss_kib(daemon) / 1024 if daemon else 0
            ticks = "-"
            if do_idle and daemon:
                def cpu():
                    f = open(f"/proc/{daemon}/stat").read().rsplit(")", 1)[1].split()
                    return int(f[11]) + int(f[12])
                a = cpu()
                time.sleep(args.idle_secs)
                ticks = f"{(cpu() - a) * 60 / args.idle_secs:.1f}"
            each = lambda ps: f"{sum(pss_kib(p) for p in ps) / len(ps):.0f}" if ps else "-"
            print(f"| {kind} | {len(mine)} | {total:.1f} | {dpss:.1f} | {each(sinks)} | {each(runners)} | {ticks} |",
                  flush=True)
        finally:
            run.close()
    print()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ctmux", default="target/debug/ctmux")
    ap.add_argument("--old-ctmux")
    ap.add_argument("--sections", default="loss,latency,memory,idle")
    ap.add_argument("--paths", default="sink,script,control")
    ap.add_argument("--panes", default="1,20")
    ap.add_argument("--lines", default="5000,50000")
    ap.add_argument("--samples", type=int, default=250)
    ap.add_argument("--idle-secs", type=int, default=60)
    ap.add_argument("--memory-burst", type=int, default=0,
                    help="lines each memory pane prints (seq) before it sleeps (0: none)")
    args = ap.parse_args()
    args.panes = [int(x) for x in args.panes.split(",")]
    args.lines = [int(x) for x in args.lines.split(",")]
    sections = args.sections.split(",")
    kinds = []
    for k in args.paths.split(","):
        if k == "sink":
            kinds.append(("sink", os.path.abspath(args.ctmux)))
        elif k == "script":
            kinds.append(("script", None))
        elif k == "control" and args.old_ctmux:
            kinds.append(("control", os.path.abspath(args.old_ctmux)))
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; tmux {subprocess.run(['tmux', '-V'], capture_output=True, text=True).stdout.strip()}\n")
    if "loss" in sections:
        section_loss(args, kinds)
    if "latency" in sections:
        section_latency(args, kinds)
    if "memory" in sections or "idle" in sections:
        section_memory_idle(args, kinds, True, "idle" in sections)


if __name__ == "__main__":
    sys.exit(main())
