"""Drives `ctmux mcp` with the Python MCP SDK's stdio client (run by tests/integration/mcp.rs).

Usage: python_client.py CTMUX_BINARY SOCKET_NAME PROJECT_DIR; prints "ok" when every check holds.
"""

import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


def field(obj, snake: str, camel: str):
    """A result field, under the SDK's current (snake_case) or older (camelCase) name."""
    return getattr(obj, snake) if hasattr(obj, snake) else getattr(obj, camel, None)


async def main(exe: str, socket: str, cwd: str) -> None:
    params = StdioServerParameters(command=exe, args=["mcp", "-L", socket], env=dict(os.environ), cwd=cwd)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = {t.name: t for t in (await session.list_tools()).tools}
            assert {"up", "pane_exec", "pane_wait", "logs", "down"} <= set(tools), sorted(tools)
            assert field(tools["down"].annotations, "destructive_hint", "destructiveHint") is True
            assert field(tools["status"].annotations, "read_only_hint", "readOnlyHint") is True

            async def call(name: str, args: dict) -> tuple[bool, dict]:
                res = await session.call_tool(name, args)
                doc = field(res, "structured_content", "structuredContent") or json.loads(res.content[0].text)
                return bool(field(res, "is_error", "isError")), doc

            err, up = await call("up", {"wait": True, "timeout": "60s"})
            assert not err and up["schema_version"] == 1, up
            err, ran = await call(
                "pane_exec", {"target": "app/sh", "command": "echo py-out; (exit 3)", "timeout": "30s"}
            )
            assert not err and ran["exit_status"] == 3 and ran["output"] == "py-out\n", ran
            err, waited = await call(
                "pane_wait", {"target": "app/web", "match": "web is ready", "since_start": True, "timeout": "30s"}
            )
            assert not err and waited["timed_out"] is False, waited
            for _ in range(200):
                err, logs = await call("logs", {"targets": ["app/web"], "lines": 5})
                if any(line["line"] == "web is ready" for line in logs["lines"]):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"logs never showed the line: {logs}")
            # The SDK checks every structured result against the tool's outputSchema.
            for name, tool in tools.items():
                assert field(tool, "output_schema", "outputSchema"), name
                assert tool.title, name
            assert field(tools["pane_exec"].annotations, "destructive_hint", "destructiveHint") is True
            err, page = await call("status", {"max_bytes": 1024})
            assert not err and page["total"] == 9 and isinstance(page["cursor"], str), page
            seen = list(page["panes"])
            while page["cursor"] is not None:
                err, page = await call("status", {"max_bytes": 1024, "cursor": page["cursor"]})
                assert not err, page
                seen += page["panes"]
            assert len({p["address"] for p in seen}) == 9, seen
            err, long = await call("pane_exec", {"target": "app/sh", "command": "seq 20000", "timeout": 60})
            assert not err and long["output"].startswith("1\n2\n") and long["cursor"], long
            text, cursor = long["output"], long["cursor"]
            while cursor is not None:
                err, more = await call("pane_exec_result", {"exec_id": long["exec_id"], "cursor": cursor})
                assert not err, more
                text, cursor = text + more["output"], more["cursor"]
            assert text == "".join(f"{i}\n" for i in range(1, 20001)), len(text)
            err, late = await call("pane_exec", {"target": "app/sh", "command": "sleep 2; (exit 4)", "timeout": 0.5})
            assert not err and late["timed_out"] is True and late["running"] is True, late
            err, done = await call("pane_exec_result", {"exec_id": late["exec_id"], "timeout": 20})
            assert not err and done["exit_status"] == 4, done
            err, ready = await call("pane_wait", {"target": "app/sh", "prompt": True, "timeout": 10})
            assert not err and ready["ready"] is True, ready
            # A second client started the SDK's default way: no env given, so the server gets the
            # SDK's minimal environment (HOME, PATH, SHELL, TERM, USER, LOGNAME; no LANG).
            minimal = StdioServerParameters(
                command=exe, args=["mcp", "-L", socket, "-f", os.path.join(cwd, "ctmux.yaml")], cwd=cwd
            )
            async with stdio_client(minimal) as (read2, write2):
                async with ClientSession(read2, write2) as bare:
                    await bare.initialize()
                    res = await bare.call_tool("pane_exec", {"target": "app/sh", "command": "echo bare-é"})
                    doc = field(res, "structured_content", "structuredContent")
                    assert not field(res, "is_error", "isError") and doc["output"] == "bare-é\n", doc
                    res = await bare.call_tool("pane_wait", {"target": "app/sh", "prompt": True, "timeout": 10})
                    doc = field(res, "structured_content", "structuredContent")
                    assert doc["ready"] is True, doc
                    res = await bare.call_tool("status", {"compact": True})
                    doc = field(res, "structured_content", "structuredContent")
                    assert len(doc["rows"]) == 9, doc
            err, down = await call("down", {})
            assert not err, down
    print("ok")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
