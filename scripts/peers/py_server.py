"""A small MCP server written with the official Python SDK (PyPI `mcp` 2.x), used as one
of the independent backends of scripts/e2e-multiplex.sh.

    python py_server.py --port 8123          # Streamable HTTP at http://127.0.0.1:8123/mcp
    python py_server.py --stdio              # JSON-RPC on stdin/stdout

Tools `greet`, `multiply` and `count_steps` (reports progress), resource `py://greeting`,
prompt `review`. Every answer says it came from Python so a test can tell backends apart.
"""

import argparse

import anyio

from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("warden-e2e-python")


@server.tool()
def greet(name: str) -> str:
    """Greets `name`."""
    return f"Hello, {name}! (from python)"


@server.tool()
def multiply(a: int, b: int) -> str:
    """Returns a * b as text."""
    return f"python product: {a * b}"


@server.tool()
async def count_steps(steps: int, ctx: Context) -> str:
    """Counts to `steps`, reporting progress after each step."""
    for i in range(1, steps + 1):
        await anyio.sleep(0.05)
        await ctx.report_progress(i, steps, f"step {i}")
    return f"python counted {steps} steps"


@server.resource("py://greeting", name="greeting", mime_type="text/plain")
def greeting() -> str:
    """A fixed text resource."""
    return "static greeting from python"


@server.prompt()
def review(code: str) -> str:
    """Asks for a review of `code`."""
    return f"Please review this python snippet: {code}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int)
    parser.add_argument("--stdio", action="store_true")
    parser.add_argument("--sse", action="store_true", help="serve the 2024-11-05 HTTP+SSE transport at /sse")
    args = parser.parse_args()
    if args.stdio:
        server.run("stdio")
    elif args.sse:
        if args.port is None:
            parser.error("--sse needs --port")
        server.run("sse", host="127.0.0.1", port=args.port)
    else:
        if args.port is None:
            parser.error("--port or --stdio is required")
        server.run("streamable-http", host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
