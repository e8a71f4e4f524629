#!/usr/bin/env python3
"""Hostile manifests against a ctmux binary: time, peak memory and exit code of `validate`.

    python3 bench/parser_limits.py [--ctmux target/release/ctmux] [--memory-gib 4] [--timeout 60]

Each case runs under an address-space limit and a timeout, so an unbounded parser fails the
case instead of the machine. Peak memory is the child's max RSS (getrusage).
"""

import argparse
import os
import resource
import subprocess
import tempfile
import time


def cases():
    bomb = ['version: 1', 'sessions: {a: {panes: {p: "true"}}}',
            'x-a: &a [' + ', '.join(['"lollol"'] * 9) + ']']
    for level, prev in zip("bcdefg", "abcdef"):
        bomb.append(f"x-{level}: &{level} [" + ", ".join([f"*{prev}"] * 9) + "]")
    env = "".join(f"          K{i}: v{i}\n" for i in range(100_000))
    cycle = "".join(f"  s{i}:\n    depends_on: [s{(i + 1) % 10_000}]\n    panes:\n      p: \"true\"\n"
                    for i in range(10_000))
    unknown = "".join(f"        K{i}: v{i}\n" for i in range(100_000))
    pane = 'version: 1\nsessions:\n  s:\n    panes:\n      p:\n        command: "true"\n'
    return [
        ("alias bomb (7 levels x 9)", "\n".join(bomb) + "\n"),
        ("env_file: /dev/zero", "version: 1\nenv_file: /dev/zero\nsessions:\n  a: echo hi\n"),
        ("100k-entry env", pane + "        env:\n" + env),
        ("10k-session cycle", "version: 1\nsessions:\n" + cycle),
        ("100k unknown keys", pane + unknown),
        ("error at column 70,013",
         "{version: 1," + " " * 70_000 + "bogus: 1, sessions: {a: {panes: {p: \"true\"}}}}\n"),
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ctmux", default="target/release/ctmux")
    ap.add_argument("--memory-gib", type=float, default=4)
    ap.add_argument("--timeout", type=float, default=60)
    args = ap.parse_args()
    limit = int(args.memory_gib * (1 << 30))

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    print(f"| case | bytes | exit | seconds | peak RSS |\n| --- | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in cases():
            path = os.path.join(tmp, "ctmux.yaml")
            with open(path, "w") as f:
                f.write(text)
            start = time.monotonic()
            proc = subprocess.Popen([os.path.abspath(args.ctmux), "-f", path, "validate"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=cap)
            try:
                _, status, usage = os.wait4(proc.pid, 0) if args.timeout <= 0 else wait(proc, args.timeout)
                code = os.waitstatus_to_exitcode(status)
            except TimeoutError:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                code = "timeout"
            took = time.monotonic() - start
            exit_text = f"signal {-code}" if isinstance(code, int) and code < 0 else str(code)
            print(f"| {name} | {len(text):,} | {exit_text} | {took:.2f} | {usage.ru_maxrss / 1024:,.1f} MiB |")


def wait(proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            return pid, status, usage
        time.sleep(0.01)
    raise TimeoutError


if __name__ == "__main__":
    main()
