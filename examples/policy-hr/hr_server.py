"""The HR backend of examples/policy-hr: a small MCP server written with the official
Python SDK (PyPI `mcp` 2.x), serving deterministic fake HR data over Streamable HTTP.

    python hr_server.py [--port N]          # HR tools at http://127.0.0.1:N/mcp (default 0: any free port)
    python hr_server.py --wiki [--port N]   # the second backend: a tiny company wiki

Prints `listening on http://127.0.0.1:PORT/mcp` once it accepts connections (loopback only).

HR tools: `get_time_off(employee_id)`, `list_salaries(department)`,
`get_medical_record(employee_id)`, `delete_employee(employee_id)` (destructiveHint; nothing
is really deleted) and `get_handbook()`. Wiki tools: `search(query)`.
The server itself checks nothing: who may call what is decided by Warden's policies.

Employees: e-100 alice (engineering, employee), e-200 bob (engineering, manager),
e-300 carol (engineering, contractor), e-400 dave (sales, manager).
"""

import argparse
import socket
import sys

import anyio
import uvicorn

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

EMPLOYEES = {
    "e-100": {"name": "alice", "department": "engineering", "role": "employee", "salary": 98000,
              "time_off_days": 12, "medical": "no restrictions; annual check-up 2026-03-02"},
    "e-200": {"name": "bob", "department": "engineering", "role": "manager", "salary": 131000,
              "time_off_days": 20, "medical": "reading glasses; annual check-up 2026-05-14"},
    "e-300": {"name": "carol", "department": "engineering", "role": "contractor", "salary": 87000,
              "time_off_days": 5, "medical": "peanut allergy; check-up 2026-01-20"},
    "e-400": {"name": "dave", "department": "sales", "role": "manager", "salary": 120000,
              "time_off_days": 17, "medical": "no restrictions; check-up 2026-02-11"},
}

HANDBOOK = "ACME employee handbook v3: core hours 10-16; expenses within 30 days; be kind."

WIKI = {
    "onboarding": "Onboarding: get a laptop from IT, read the handbook, meet your buddy.",
    "vpn": "VPN: use the corporate client; never share your token.",
}


def hr_server() -> MCPServer:
    server = MCPServer("warden-example-hr")

    def employee(employee_id: str) -> dict:
        e = EMPLOYEES.get(employee_id)
        if e is None:
            raise ValueError(f"unknown employee {employee_id}")
        return e

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
    def get_time_off(employee_id: str) -> str:
        """Remaining paid time off of one employee, in days."""
        e = employee(employee_id)
        return f"time off {employee_id} ({e['name']}): {e['time_off_days']} days"

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
    def list_salaries(department: str) -> str:
        """Salaries of every employee in a department."""
        rows = [f"{i} {e['name']}: {e['salary']}" for i, e in sorted(EMPLOYEES.items()) if e["department"] == department]
        return f"salaries {department}: " + ("; ".join(rows) if rows else "nobody")

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
    def get_medical_record(employee_id: str) -> str:
        """The medical record of one employee (confidential)."""
        e = employee(employee_id)
        return f"medical {employee_id} ({e['name']}): {e['medical']}"

    @server.tool(annotations=ToolAnnotations(destructiveHint=True, readOnlyHint=False))
    def delete_employee(employee_id: str) -> str:
        """Deletes an employee record (simulated: nothing changes)."""
        e = employee(employee_id)
        return f"deleted {employee_id} ({e['name']}) (simulated)"

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
    def get_handbook() -> str:
        """The employee handbook."""
        return HANDBOOK

    return server


def wiki_server() -> MCPServer:
    server = MCPServer("warden-example-wiki")

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
    def search(query: str) -> str:
        """Searches the company wiki."""
        hits = [text for key, text in sorted(WIKI.items()) if query.lower() in (key + " " + text).lower()]
        return "wiki: " + (" | ".join(hits) if hits else "no page found")

    return server


async def serve(server: MCPServer, port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.setblocking(False)
    app = server.streamable_http_app(host="127.0.0.1")
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: uv.serve(sockets=[sock]))
        while not uv.started:
            await anyio.sleep(0.02)
        print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}/mcp", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--wiki", action="store_true", help="serve the wiki backend instead of HR")
    args = parser.parse_args()
    server = wiki_server() if args.wiki else hr_server()
    try:
        anyio.run(serve, server, args.port)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
