#!/usr/bin/env python3
"""What comes back: `tmuxp freeze` + `tmuxp load` against `ctmux snapshot` + `ctmux restore`.

One live workspace is built on a private tmux server (`-f /dev/null`): a 200x50 session whose
first window holds a server started with arguments (`python3 -m http.server 0 --bind
127.0.0.1`), `tail -n 1 -f FILE` and an idle shell in /tmp, resized by hand, with a pane title
and a pane user option; its second window is zoomed and holds a shell running `sleep 4242`
typed at its prompt. Each tool saves it and loads it on a fresh server; then every pane is
compared with the original: the full argv of its foreground process group (from /proc), its
cwd, and per window the name, the `#{window_layout}` string and the pane count, plus the pane
title and user option. A table (markdown) and the raw data (--json) are printed.

Usage: bench/freeze.py [--ctmux target/debug/ctmux] [--json out.json]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time


# Every server runs /bin/sh as its default shell: the login shell's rc files can take seconds
# here, and tmuxp types its commands into that shell (the comparison would measure rc files).
CONF = os.path.join(tempfile.mkdtemp(prefix="ctmux-freeze-conf-"), "tmux.conf")
open(CONF, "w").write("set -g default-shell /bin/sh\n")


def tmux(sock, *args):
    return subprocess.run(["tmux", "-L", sock, "-f", CONF, *args], capture_output=True, text=True)


SHELLS = {"sh", "bash", "zsh", "dash", "fish", "ksh"}


def cmdline(pid):
    try:
        raw = open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        return None
    argv = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    # An interactive shell, however started (`-bash`, `/bin/bash -l`), is "a shell".
    if argv and os.path.basename(argv[0].lstrip("-")) in SHELLS and all(a.startswith("-") and a != "-c" for a in argv[1:]):
        return ["<shell>"]
    return argv


def stat_fields(pid):
    stat = open(f"/proc/{pid}/stat").read()
    return stat[stat.rfind(")") + 2 :].split()


def argv_of(pid):
    """The argv of every process in the foreground process group of the terminal pane process
    `pid` runs on: what runs in the pane now (a program a shell runs shares the shell's group)."""
    try:
        tpgid = int(stat_fields(pid)[5])
    except (OSError, ValueError, IndexError):
        return []
    group = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(stat_fields(int(entry))[2]) == tpgid:
                    group.append(cmdline(int(entry)))
            except (OSError, ValueError, IndexError):
                continue
    return [a for a in group if a]


def state(sock, session):
    fmt = "#{window_index}\t#{window_name}\t#{window_layout}\t#{pane_index}\t#{pane_pid}\t#{pane_current_path}\t#{pane_title}\t#{@role}"
    out = tmux(sock, "list-panes", "-s", "-t", f"={session}", "-F", fmt).stdout
    windows, panes = {}, {}
    for line in out.splitlines():
        wi, wn, layout, pi, pid, cwd, title, role = line.split("\t")
        w = windows.setdefault(wi, {"name": wn, "layout": layout, "panes": 0})
        w["panes"] += 1
        group = argv_of(int(pid))
        # The group leader first: the program the user started in the pane.
        leader = cmdline(int(stat_fields(int(pid))[5])) if group else None
        panes[(wi, pi)] = {"argv": [leader] + [a for a in group if a != leader] if leader else group,
                           "cwd": cwd, "title": title, "role": role}
    return windows, panes


def build(sock, workdir):
    # /bin/sh as the default shell (see CONF) also in the panes built here.
    log = os.path.join(workdir, "app.log")
    open(log, "w").write("hello\n")
    s = "work"
    tmux(sock, "new-session", "-d", "-s", s, "-n", "servers", "-x", "200", "-y", "50", "-c", workdir,
         "python3", "-m", "http.server", "0", "--bind", "127.0.0.1")
    tmux(sock, "split-window", "-h", "-t", f"={s}:", "-c", workdir, "tail", "-n", "1", "-f", log)
    tmux(sock, "split-window", "-v", "-t", f"={s}:", "-c", "/tmp")
    tmux(sock, "resize-pane", "-t", f"={s}:0.0", "-x", "70")
    tmux(sock, "select-pane", "-t", f"={s}:0.1", "-T", "logs")
    tmux(sock, "set-option", "-p", "-t", f"={s}:0.0", "@role", "api")
    tmux(sock, "new-window", "-t", f"={s}:", "-n", "zoomed", "-c", workdir)
    tmux(sock, "split-window", "-t", f"={s}:1", "-c", workdir, "/bin/sh")
    tmux(sock, "send-keys", "-t", f"={s}:1.1", "sleep 4242", "Enter")
    tmux(sock, "resize-pane", "-Z", "-t", f"={s}:1.0")
    tmux(sock, "select-window", "-t", f"={s}:0")
    settle(sock, s, ["python3", "tail", "sleep"])
    return s


def settle(sock, session, programs, timeout=20):
    """Waits until each program runs in some pane (shells start slowly under rc files)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        running = tmux(sock, "list-panes", "-s", "-t", f"={session}", "-F", "#{pane_current_command}").stdout
        if all(any(p in line for line in running.splitlines()) for p in programs):
            return True
        time.sleep(0.2)
    return False


def stable(sock, session, quiet=2.0, timeout=30):
    """Waits until the panes' programs and directories stop changing for `quiet` seconds (tmuxp
    types commands into shells; they take effect a moment after it returns)."""
    last, since, deadline = None, time.time(), time.time() + timeout
    while time.time() < deadline:
        now = tmux(sock, "list-panes", "-s", "-t", f"={session}", "-F", "#{pane_current_command} #{pane_current_path}").stdout
        if now != last:
            last, since = now, time.time()
        elif time.time() - since >= quiet:
            return
        time.sleep(0.2)


def geometry(layout):
    """A layout string without its checksum and pane ids (they differ from server to server and
    select-layout ignores them): the cells' sizes and places only."""
    body = layout.split(",", 1)[1] if "," in layout else layout
    return re.sub(r"(\d+x\d+,\d+,\d+),\d+", r"\1", body)


def compare(orig, back):
    ow, op = orig
    bw, bp = back
    same = lambda f: sum(1 for k, v in op.items() if k in bp and bp[k][f] == v[f])
    # The original pane's foreground program (its group's leader, first) runs in the restored one.
    runs = sum(1 for k, v in op.items() if k in bp and v["argv"] and v["argv"][0] in bp[k]["argv"])
    return {
        "panes": f"{sum(w['panes'] for w in bw.values())}/{sum(w['panes'] for w in ow.values())}",
        "window names": f"{sum(1 for k, w in ow.items() if bw.get(k, {}).get('name') == w['name'])}/{len(ow)}",
        "layout (cell sizes and places) equal": f"{sum(1 for k, w in ow.items() if geometry(bw.get(k, {}).get('layout', '')) == geometry(w['layout']))}/{len(ow)}",
        "program with its full argv": f"{runs}/{len(op)}",
        "cwd equal": f"{same('cwd')}/{len(op)}",
        "pane title": "yes" if bp.get(("0", "1"), {}).get("title") == "logs" else "no",
        "pane user option": "yes" if bp.get(("0", "0"), {}).get("role") == "api" else "no",
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ctmux", default="target/debug/ctmux")
    ap.add_argument("--json")
    args = ap.parse_args()
    ctmux = os.path.abspath(args.ctmux)
    pid = os.getpid()
    live, via_tmuxp, via_ctmux = f"freeze-live-{pid}", f"freeze-tmuxp-{pid}", f"freeze-ctmux-{pid}"
    work = tempfile.mkdtemp(prefix="ctmux-freeze-")
    env = dict(os.environ, CTMUX_STATE_DIR=work, XDG_RUNTIME_DIR=work, CTMUX_TMUX_CONF=CONF, NO_COLOR="1",
               SHELL="/bin/sh")
    env.pop("TMUX", None)
    try:
        session = build(live, work)
        orig = state(live, session)
        frozen = os.path.join(work, "tmuxp.yaml")
        subprocess.run(["tmuxp", "freeze", "-L", live, "-o", frozen, "-y", "-q", "--force", session],
                       capture_output=True, text=True, env=env, check=True)
        snap = os.path.join(work, "ctmux.yaml")
        subprocess.run([ctmux, "-L", live, "snapshot", session, "-o", snap], capture_output=True, env=env, check=True)
        subprocess.run(["tmuxp", "load", "-L", via_tmuxp, "-f", CONF, "-d", "-y", frozen],
                       capture_output=True, text=True, env=env, check=True)
        subprocess.run([ctmux, "-L", via_ctmux, "restore", snap, "--no-daemon"], capture_output=True, env=env, check=True)
        for sock in (via_tmuxp, via_ctmux):
            stable(sock, session)
        results = {"tmuxp freeze/load": compare(orig, state(via_tmuxp, session)),
                   "ctmux snapshot/restore": compare(orig, state(via_ctmux, session))}
        tools = list(results)
        print("| brought back | " + " | ".join(tools) + " |")
        print("| --- | " + " | ".join("---" for _ in tools) + " |")
        for row in results[tools[0]]:
            print(f"| {row} | " + " | ".join(results[t][row] for t in tools) + " |")
        if args.json:
            raw = {"original": {"windows": orig[0], "panes": {f"{k[0]}.{k[1]}": v for k, v in orig[1].items()}},
                   "results": results, "tmuxp_file": open(frozen).read(), "ctmux_file": open(snap).read()}
            json.dump(raw, open(args.json, "w"), indent=2)
    finally:
        for sock in (live, via_tmuxp, via_ctmux):
            tmux(sock, "kill-server")


if __name__ == "__main__":
    sys.exit(main())
