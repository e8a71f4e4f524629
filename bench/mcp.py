#!/usr/bin/env python3
"""`ctmux mcp` round trip: a `pane_exec` tool call (`true`, wait) against the same exec run directly.

Brings a one-shell-pane manifest up on a private tmux server (`-L ctmux-bench-mcp-PID`,
CTMUX_TMUX_CONF=/dev/null, CTMUX_STATE_DIR/XDG_RUNTIME_DIR in a temporary directory), then, in
--rounds rounds, times --samples runs of `ctmux --json pane exec app/sh --wait -- true` spawned
from here, and --samples `tools/call pane_exec {"command":"true"}` requests to one `ctmux mcp`
over its stdio (raw JSON-RPC, no SDK needed), and --samples raw round trips the way a tool without
ctmux does it (`tmux send-keys` of `true; echo MARK$?` + Enter, then `capture-pane` every 10 ms
until the mark shows). Reports medians, p90 and p99 per round, the overhead (MCP median - direct
median), and how many results had no exit status. Kills the server after.

usage: bench/mcp.py [--ctmux target/debug/ctmux] [--samples 50] [--rounds 3]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

# An interactive shell pane (`keep_shell` would wrap the command in a bash that pane exec
# refuses as busy: every sample then measured an error).
MANIFEST = "version: 1\nname: bench\nsessions:\n  app:\n    panes:\n      sh: { command: [sh, -i] }\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ctmux", default="target/debug/ctmux")
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    exe = os.path.abspath(args.ctmux)
    sock = f"ctmux-bench-mcp-{os.getpid()}"
    tmp = tempfile.mkdtemp()
    env = dict(os.environ, CTMUX_STATE_DIR=tmp, XDG_RUNTIME_DIR=tmp, CTMUX_TMUX_CONF="/dev/null", NO_COLOR="1")
    env.pop("TMUX", None)
    with open(os.path.join(tmp, "ctmux.yaml"), "w") as f:
        f.write(MANIFEST)
    base = [exe, "-f", os.path.join(tmp, "ctmux.yaml"), "-L", sock]
    try:
        subprocess.run(base + ["up", "--wait", "--timeout", "60s"], env=env, check=True, capture_output=True)
        mcp = subprocess.Popen(base + ["mcp"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

        def rpc(msg: dict) -> dict | None:
            mcp.stdin.write(json.dumps(msg) + "\n")
            mcp.stdin.flush()
            return json.loads(mcp.stdout.readline()) if "id" in msg else None

        rpc({"jsonrpc": "2.0", "id": 0, "method": "initialize",
             "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}})
        rpc({"jsonrpc": "2.0", "method": "notifications/initialized"})
        missing = {"direct": 0, "mcp": 0}
        n = 1
        for r in range(args.rounds):
            direct, via = [], []
            for _ in range(args.samples):
                t = time.perf_counter()
                out = subprocess.run(base + ["--json", "pane", "exec", "app/sh", "--wait", "--", "true"], env=env, capture_output=True)
                direct.append(time.perf_counter() - t)
                missing["direct"] += json.loads(out.stdout).get("exit_status") is None
            for _ in range(args.samples):
                n += 1
                t = time.perf_counter()
                res = rpc({"jsonrpc": "2.0", "id": n, "method": "tools/call",
                           "params": {"name": "pane_exec", "arguments": {"target": "app/sh", "command": "true"}}})
                via.append(time.perf_counter() - t)
                missing["mcp"] += res["result"]["structuredContent"].get("exit_status") is None
            raw = []
            tmux = ["tmux", "-L", sock]
            for i in range(args.samples):
                mark = f"RAWMARK{r}x{i}x"
                t = time.perf_counter()
                subprocess.run(tmux + ["send-keys", "-t", "app", f"true; echo {mark}$?", "Enter"], env=env, check=True)
                while True:
                    shown = subprocess.run(tmux + ["capture-pane", "-p", "-t", "app"], env=env, capture_output=True, text=True).stdout
                    if f"{mark}0" in shown:
                        break
                    time.sleep(0.01)
                raw.append(time.perf_counter() - t)
            q = lambda xs, p: sorted(xs)[min(len(xs) - 1, int(len(xs) * p))] * 1000
            d, m, w = (statistics.median(x) * 1000 for x in (direct, via, raw))
            print(f"round {r}: direct median {d:.1f} ms (p90 {q(direct, .9):.1f}, p99 {q(direct, .99):.1f}); "
                  f"MCP median {m:.1f} ms (p90 {q(via, .9):.1f}, p99 {q(via, .99):.1f}); overhead {m - d:+.1f} ms; "
                  f"raw send-keys+capture median {w:.1f} ms (p99 {q(raw, .99):.1f})")
        print(f"results without exit status: direct {missing['direct']}, mcp {missing['mcp']} "
              f"of {args.samples * args.rounds} each")
        mcp.stdin.close()
        mcp.wait(timeout=10)
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
