"""An MCP session with the official Python SDK (`mcp` from PyPI) for the server's tests.

Reads a plan (JSON) on stdin: the transport (`http` with `url` and `token`, or `stdio` with
`command` and `args`), the negotiation `mode` (`auto`: the newest revision; `legacy`: the
initialize handshake) and the `calls` to make. Prints one JSON report on stdout: the revision
spoken, the server's name, every listed tool with its schema and annotations, and each call's
result; a session that could not be opened reports `error` instead.
"""

import asyncio
import json
import sys
import time

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client


def dump(model):
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def error_text(error):
    """The exception and what it wraps (task groups hide the cause)."""
    parts = [f"{type(error).__name__}: {error}"]
    for inner in getattr(error, "exceptions", []) or []:
        parts.append(error_text(inner))
    if error.__cause__ is not None:
        parts.append(error_text(error.__cause__))
    return " | ".join(parts)


# HTTP statuses the server answered (the SDK reports a refusal without its status).
STATUSES = []


async def record(response):
    STATUSES.append(response.status_code)


async def session(plan):
    mode = plan.get("mode", "auto")
    if plan["transport"] == "http":
        headers = {}
        if plan.get("token"):
            headers["Authorization"] = f"Bearer {plan['token']}"
        http = httpx2.AsyncClient(
            headers=headers,
            timeout=httpx2.Timeout(30.0, read=60.0),
            event_hooks={"response": [record]},
        )
        server = streamable_http_client(plan["url"], http_client=http)
    else:
        server = StdioServerParameters(command=plan["command"], args=plan.get("args", []))
    report = {}
    async with Client(server, mode=mode, read_timeout_seconds=60) as client:
        report["protocol_version"] = client.protocol_version
        info = client.server_info
        report["server"] = dump(info) if info is not None else None
        listed = await client.list_tools()
        report["tools"] = [dump(tool) for tool in listed.tools]
        results = []
        for call in plan.get("calls", []):
            try:
                started = time.perf_counter()
                result = await client.call_tool(call["name"], call.get("arguments") or {})
                elapsed_ms = (time.perf_counter() - started) * 1000
                texts = [c.text for c in result.content if getattr(c, "type", "") == "text"]
                results.append(
                    {
                        "name": call["name"],
                        "is_error": bool(result.is_error),
                        "structured": result.structured_content,
                        "text": "\n".join(texts),
                        "ms": round(elapsed_ms, 2),
                    }
                )
            except Exception as error:  # a protocol error answer: reported, not raised
                results.append({"name": call["name"], "protocol_error": error_text(error)})
        report["results"] = results
    return report


def main():
    plan = json.load(sys.stdin)
    try:
        report = asyncio.run(session(plan))
    except BaseException as error:  # the session did not open (refused, unreachable)
        report = {"error": error_text(error)}
    report["http_statuses"] = STATUSES
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
