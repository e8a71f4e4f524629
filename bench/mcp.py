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
       bench/mcp.py --compare [--ctmux target/release/ctmux] [--samples 30] [--venv /tmp/ctmux-bench-venv]

--compare: the same agent tasks through `ctmux mcp` and libtmux-mcp (PyPI, pinned below), both
driven by the official `mcp` Python SDK over stdio, on one private tmux server that ctmux brings
up (a shell pane, a Python REPL pane, and a session of 100 panes). The SDK and libtmux-mcp are
installed into --venv on first use (`python -m venv`, then `pip install`); the script re-runs
itself under that venv's python. Reports, per server: the bytes of its tool list; the bytes of
the result(s) that list the 100 panes; per task the calls an agent makes, how many samples
were correct, and the latency p50/p99 of the whole task:
  run    run `printf 'a\nb\n'; (exit 3)` in a shell pane: correct = exit status 3 and exactly
         the output "a\nb\n" (ctmux: pane_exec; libtmux-mcp: run_command)
  repl   a Python REPL round trip, `print(6*7+i)`: correct = the answer line read back
         (ctmux: pane_send_keys {wait: "prompt"}; libtmux-mcp, as its tool descriptions advise:
         capture_since for a cursor, send_keys, then capture_since every 50 ms until the next
         `>>>` prompt; its wait_for_text cannot wait for that prompt: the prompt is usually
         painted before the wait starts, and what was painted before never matches)
  wait   wait for a line another program prints 300 ms after the wait starts: correct = the
         printed line matched (not the typed one); latency = from the line being typed (before
         `tmux send-keys` starts) to the wait's result (ctmux: pane_wait {match};
         libtmux-mcp: wait_for_text)
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

# An interactive shell pane (`keep_shell` would wrap the command in a bash that pane exec
# refuses as busy: every sample then measured an error).
MANIFEST = "version: 1\nname: bench\nsessions:\n  app:\n    panes:\n      sh: { command: [sh, -i] }\n"


LIBTMUX_MCP = "libtmux-mcp==0.1.0a22"
SDK = "mcp==2.3.0"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ctmux", default="target/debug/ctmux")
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--compare", action="store_true")
    ap.add_argument("--venv", default="/tmp/ctmux-bench-venv")
    args = ap.parse_args()
    if args.compare:
        compare(args)
        return
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
        remove_socket(sock)
        shutil.rmtree(tmp, ignore_errors=True)


def remove_socket(sock: str) -> None:
    """Removes the killed server's socket file (tmux 3.3a leaves it behind)."""
    base = os.environ.get("TMUX_TMPDIR") or "/tmp"
    try:
        os.unlink(os.path.join(base, f"tmux-{os.getuid()}", sock))
    except OSError:
        pass


def ensure_venv(venv: str) -> None:
    """Re-runs this script under `venv`'s python, creating it with the SDK and libtmux-mcp."""
    py = os.path.join(venv, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(venv):
        return
    if not os.path.exists(os.path.join(venv, "bin", "libtmux-mcp")):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "--pre", LIBTMUX_MCP, SDK], check=True)
    os.execv(py, [py] + sys.argv)


def pct(xs: list, p: float) -> float:
    """The p-quantile of `xs` in ms (nearest rank)."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(len(xs) * p + 0.5)) - 1))] * 1000


MANY = "".join(
    f"      w{w}:\n        panes:\n" + "".join(f"          p{w}x{p}: {{ command: [sleep, '100000'] }}\n" for p in range(5))
    for w in range(20)
)
COMPARE_MANIFEST = (
    "version: 1\nname: cmp\nsessions:\n  app:\n    panes:\n"
    "      sh: { command: [sh, -i] }\n      py: { command: [python3, -q] }\n      log: { command: [sh, -i] }\n"
    "  many:\n    windows:\n" + MANY
)


def compare(args) -> None:
    ensure_venv(args.venv)
    import asyncio

    # This file is named mcp.py: the SDK's `mcp` must not resolve to it.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    sys.modules.pop("mcp", None)

    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    exe = os.path.abspath(args.ctmux)
    sock = f"ctmux-bench-cmp-{os.getpid()}"
    tmp = tempfile.mkdtemp()
    env = dict(os.environ, CTMUX_STATE_DIR=tmp, XDG_RUNTIME_DIR=tmp, CTMUX_TMUX_CONF="/dev/null", NO_COLOR="1")
    env.pop("TMUX", None)
    env.pop("TMUX_PANE", None)
    manifest = os.path.join(tmp, "ctmux.yaml")
    with open(manifest, "w") as f:
        f.write(COMPARE_MANIFEST)
    tmux = ["tmux", "-L", sock]

    def pane_id(address: str) -> str:
        out = subprocess.run([exe, "-f", manifest, "-L", sock, "--json", "pane", "status", address],
                             env=env, capture_output=True, text=True, check=True).stdout
        return json.loads(out)["pane"]["tmux_id"]

    def text_of(res) -> str:
        return "".join(c.text for c in res.content if getattr(c, "type", "") == "text")

    async def run_server(name: str, params) -> dict:
        report = {"server": name, "tasks": {}}
        async with stdio_client(params) as (r, w):
            async with ClientSession(r, w) as s:
                await s.initialize()
                tools = await s.list_tools()
                report["tool_list_bytes"] = len(json.dumps(
                    [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools.tools],
                    separators=(",", ":")))
                report["tools"] = len(tools.tools)

                async def call(tool: str, a: dict):
                    res = await s.call_tool(tool, a)
                    return res, text_of(res)

                # The 100-pane session, listed.
                if name == "ctmux":
                    total, pages, cursor, seen = 0, 0, None, 0
                    while True:
                        a = {"targets": ["many"]} | ({"cursor": cursor} if cursor else {})
                        res, text = await call("status", a)
                        doc = json.loads(text)
                        total += len(text.encode())
                        pages += 1
                        seen += len(doc["panes"])
                        cursor = doc.get("cursor")
                        if not cursor:
                            break
                    report["panes_100"] = {"bytes": total, "calls": pages, "panes": seen}
                    res, text = await call("status", {"targets": ["many"], "compact": True})
                    report["panes_100_compact"] = {"bytes": len(text.encode()), "calls": 1,
                                                   "panes": len(json.loads(text)["rows"])}
                else:
                    res, text = await call("list_panes", {"session_name": "many"})
                    report["panes_100"] = {"bytes": len(text.encode()), "calls": 1, "panes": len(json.loads(text))}

                sh, py, log = (pane_id(a) for a in ("app/sh", "app/py", "app/log"))
                # Task: run a command, read its exit status and output.
                lat, ok, calls, status_ok = [], 0, 1, 0
                for i in range(args.samples):
                    cmd = "printf 'a\\nb\\n'; (exit 3)"
                    t = time.perf_counter()
                    if name == "ctmux":
                        res, text = await call("pane_exec", {"target": "app/sh", "command": cmd, "timeout": 30})
                        doc = json.loads(text)
                        good = doc.get("exit_status") == 3 and doc.get("output") == "a\nb\n"
                        status_ok += doc.get("exit_status") == 3
                    else:
                        res, text = await call("run_command", {"pane_id": sh, "command": cmd, "timeout": 30})
                        doc = json.loads(text)
                        out = doc.get("output") or []
                        got = "\n".join(out) + "\n" if isinstance(out, list) else str(out)
                        good = doc.get("exit_status") == 3 and got == "a\nb\n"
                        status_ok += doc.get("exit_status") == 3
                    lat.append(time.perf_counter() - t)
                    ok += good
                    if i == 0:
                        report.setdefault("examples", {})["run"] = text[:600]
                report["tasks"]["run"] = {"calls": calls, "correct": ok, "status_correct": status_ok, "of": args.samples,
                                          "p50": pct(lat, .5), "p99": pct(lat, .99)}

                # Task: a Python REPL round trip.
                lat, ok, calls_total = [], 0, 0
                for i in range(args.samples):
                    want = str(42 + i)
                    line = f"print(6*7+{i})"
                    t = time.perf_counter()
                    if name == "ctmux":
                        res, text = await call("pane_send_keys",
                                               {"target": "app/py", "text": line + "\n", "wait": "prompt", "timeout": 10})
                        doc = json.loads(text)
                        got = [l for l in doc.get("output", "").split("\n") if l and not l.startswith(">>>")]
                        calls = 1
                    else:
                        # libtmux-mcp's advice for observing after input: capture_since with a
                        # cursor taken before the keys, again until the next prompt shows.
                        res, text = await call("capture_since", {"pane_id": py})
                        cur = json.loads(text)["cursor"]
                        await call("send_keys", {"pane_id": py, "keys": line})
                        calls_now, seen = 2, []
                        while time.perf_counter() - t < 10:
                            res, text = await call("capture_since", {"pane_id": py, "cursor": cur})
                            calls_now += 1
                            doc = json.loads(text)
                            seen += doc.get("lines", [])
                            cur = doc.get("cursor", cur)
                            at = max((k for k, l in enumerate(seen) if line in l), default=None)
                            if at is not None and seen and seen[-1].strip() == ">>>" and len(seen) > at + 2:
                                break
                            await asyncio.sleep(0.05)
                        got = seen[at + 1:-1] if at is not None else []
                        calls_total += calls_now
                        calls = calls_total / (i + 1)
                    lat.append(time.perf_counter() - t)
                    ok += got == [want]
                    if i == 0:
                        report.setdefault("examples", {})["repl"] = text[:600]
                report["tasks"]["repl"] = {"calls": calls, "correct": ok, "of": args.samples,
                                           "p50": pct(lat, .5), "p99": pct(lat, .99)}

                # Task: wait for a line another program prints.
                lat, ok = [], 0
                for i in range(args.samples):
                    want = f"READY-42x{i}"
                    typed = f"echo READY-$((40+2))x{i}"

                    async def type_later():
                        await asyncio.sleep(0.3)
                        # Timed from before the keys: run() blocks the loop, so a result that
                        # came while send-keys ran would otherwise count as instant.
                        at = time.perf_counter()
                        subprocess.run(tmux + ["send-keys", "-t", log, typed, "Enter"], check=True)
                        return at

                    typer = asyncio.ensure_future(type_later())
                    if name == "ctmux":
                        res, text = await call("pane_wait", {"target": "app/log", "match": want, "timeout": 10})
                        good = json.loads(text).get("matched") == want
                    else:
                        res, text = await call("wait_for_text", {"pane_id": log, "patterns": [want], "timeout": 10})
                        doc = json.loads(text)
                        good = bool(doc.get("found")) and want in json.dumps(doc.get("matched_lines", doc))
                    done = time.perf_counter()
                    typed_at = await typer
                    lat.append(max(0.0, done - typed_at))
                    ok += good
                    if i == 0:
                        report.setdefault("examples", {})["wait"] = text[:600]
                report["tasks"]["wait"] = {"calls": 1, "correct": ok, "of": args.samples,
                                           "p50": pct(lat, .5), "p99": pct(lat, .99)}
        return report

    try:
        subprocess.run([exe, "-f", manifest, "-L", sock, "up", "--wait", "--timeout", "180s"], env=env, check=True,
                       capture_output=True)
        load = os.getloadavg()
        reports = [
            asyncio.run(run_server("ctmux", StdioServerParameters(
                command=exe, args=["mcp", "-f", manifest, "-L", sock], env=env))),
            asyncio.run(run_server("libtmux-mcp", StdioServerParameters(
                command=os.path.join(args.venv, "bin", "libtmux-mcp"), args=[],
                env=dict(env, LIBTMUX_SOCKET=sock, FASTMCP_SHOW_CLI_BANNER="false")))),
        ]
        load_after = os.getloadavg()
        print(json.dumps({"load_before": load, "load_after": load_after, "reports": reports}, indent=1))
        for rep in reports:
            print(f"{rep['server']}: {rep['tools']} tools, tool list {rep['tool_list_bytes']} B; "
                  f"100 panes: {rep['panes_100']}" + (f", compact {rep['panes_100_compact']}" if "panes_100_compact" in rep else ""))
            for task, t in rep["tasks"].items():
                extra = f" (exit status right {t['status_correct']}/{t['of']})" if "status_correct" in t else ""
                print(f"  {task}: {t['calls']:.3g} call(s), correct {t['correct']}/{t['of']}{extra}, "
                      f"p50 {t['p50']:.1f} ms, p99 {t['p99']:.1f} ms")
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)
        remove_socket(sock)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
