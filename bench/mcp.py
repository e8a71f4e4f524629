#!/usr/bin/env python3
"""`ctmux mcp` round trip: a `pane_exec` tool call (`true`, wait) against the same exec run directly.

Brings a one-shell-pane manifest up on a private tmux server (`-L ctmux-bench-mcp-PID`,
CTMUX_TMUX_CONF=/dev/null, CTMUX_STATE_DIR/XDG_RUNTIME_DIR in a temporary directory), then, in
--rounds rounds, times --samples runs of `ctmux --json pane exec app/sh --wait -- true` spawned
from here, and --samples `tools/call pane_exec {"command":"true"}` requests to one `ctmux mcp`
over its stdio (raw JSON-RPC, no SDK needed). Reports medians and p90 per round, the overhead
(MCP median - direct median), and how many results had no exit status. Kills the server after.

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

MANIFEST = "version: 1\nname: bench\nsessions:\n  app:\n    panes:\n      sh: { command: sh, keep_shell: true }\n"


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
            p90 = lambda xs: sorted(xs)[int(len(xs) * 0.9)] * 1000
            d, m = statistics.median(direct) * 1000, statistics.median(via) * 1000
            print(f"round {r}: direct median {d:.1f} ms (p90 {p90(direct):.1f}); "
                  f"MCP median {m:.1f} ms (p90 {p90(via):.1f}); overhead {m - d:+.1f} ms")
        print(f"results without exit status: direct {missing['direct']}, mcp {missing['mcp']} "
              f"of {args.samples * args.rounds} each")
        mcp.stdin.close()
        mcp.wait(timeout=10)
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
