"""Drives a multiplexing Warden virtual server with the official Python SDK client (PyPI
`mcp` 2.x: `streamable_http_client` + `ClientSession`). Part of scripts/e2e-multiplex.sh;
expects the backends of examples/e2e-three-servers.yaml.

    python py_client.py URL [--era legacy|modern]     # list/call/read/prompt/progress/sampling
    python py_client.py URL --dead BACKEND [--era …]  # after BACKEND was killed: degraded lists
    python py_client.py URL --dead BACKEND --hold DIR  # healthy, DIR/ready, wait DIR/go, degraded

`legacy` opens with `initialize` (2025-11-25, sessions); `modern` with `server/discover`
(2026-07-28, stateless). Prints one TAP-like line per check; exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

import mcp.types as types
from mcp import ClientSession, MCPError
from mcp.client.streamable_http import streamable_http_client

BACKENDS = ("rmcp", "py", "everything", "pystdio")
UNAVAILABLE = "dev.warden/unavailableBackends"
SAMPLED = "sampled-by-python-client"


class Checks:
    def __init__(self, label: str) -> None:
        self.label = label
        self.failed = 0

    def check(self, description: str, ok: bool, detail: Any = None) -> None:
        if ok:
            print(f"ok - {self.label}: {description}", flush=True)
            return
        self.failed += 1
        print(f"not ok - {self.label}: {description}", flush=True)
        if detail is not None:
            text = detail if isinstance(detail, str) else repr(detail)
            print("#   " + text[:800].replace("\n", "\n#   "), flush=True)

    async def attempt(self, description: str, body: Callable[[], Awaitable[tuple[bool, Any]]]) -> None:
        try:
            ok, detail = await body()
        except Exception:  # noqa: BLE001 - any failure is this check's failure
            ok, detail = False, "threw: " + "".join(traceback.format_exception_only(sys.exc_info()[1])).strip()
        self.check(description, ok, detail)


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


async def expect_error(call: Awaitable[Any]) -> tuple[MCPError | None, Any]:
    """Awaits `call`; returns the JSON-RPC error it raised, or (None, what it returned)."""
    try:
        return None, await call
    except MCPError as e:
        return e, None


def names_backend(error: MCPError, backend: str) -> bool:
    """Whether a JSON-RPC error names `backend` (as a word in its message or data)."""
    blob = error.message + " " + json.dumps(error.data)
    return re.search(rf"(?<![\w+-]){re.escape(backend)}(?![\w+-])", blob) is not None


async def sampling_callback(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    sampling_callback.seen.append(params)  # type: ignore[attr-defined]
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text=SAMPLED), model="py-test-model"
    )


sampling_callback.seen = []  # type: ignore[attr-defined]


async def healthy(s: ClientSession, c: Checks, era: str) -> None:
    tools: list[str] = []

    async def list_tools() -> tuple[bool, Any]:
        nonlocal tools
        tools = [t.name for t in (await s.list_tools()).tools]
        want = ["rmcp__add", "py__greet", "py__multiply", "everything__echo", "pystdio__greet"]
        missing = [n for n in want if n not in tools]
        unprefixed = [n for n in tools if not n.startswith(tuple(f"{b}__" for b in BACKENDS))]
        return not missing and not unprefixed, {"missing": missing, "unprefixed": unprefixed}

    await c.attempt("tools/list has tools of all four backends, prefixed", list_tools)

    calls = [
        ("rmcp__add", {"a": 2, "b": 3}, "5"),
        ("py__greet", {"name": era}, f"Hello, {era}! (from python)"),
        ("everything__echo", {"message": f"hi-{era}"}, f"Echo: hi-{era}"),
        ("pystdio__greet", {"name": "stdio"}, "Hello, stdio! (from python)"),
    ]
    for name, args, want in calls:

        async def call(name: str = name, args: dict[str, Any] = args, want: str = want) -> tuple[bool, Any]:
            r = await s.call_tool(name, args)
            return not r.is_error and text_of(r) == want, r

        await c.attempt(f"tools/call {name} is answered by its backend", call)

    # Names are routed by prefix, never guessed.
    for name, why in [
        ("nosuch__tool", "unknown backend prefix"),
        ("echo", "unprefixed name present on two backends"),
        ("greet", "unprefixed name"),
    ]:

        async def unknown(name: str = name) -> tuple[bool, Any]:
            err, result = await expect_error(s.call_tool(name, {"message": "x", "name": "x"}))
            return err is not None, result if err is None else None

        await c.attempt(f"tools/call {name} ({why}) is a JSON-RPC error", unknown)

    async def read_py() -> tuple[bool, Any]:
        r = await s.read_resource("py+py://greeting")
        first = r.contents[0]
        return isinstance(first, types.TextResourceContents) and first.text == "static greeting from python", r

    await c.attempt("resources/read py+py://greeting returns the python resource", read_py)

    async def read_everything() -> tuple[bool, Any]:
        uri = "everything+demo://resource/static/document/features.md"
        r = await s.read_resource(uri)
        first = r.contents[0]
        return isinstance(first, types.TextResourceContents) and len(first.text) > 0 and str(first.uri) == uri, r

    await c.attempt("resources/read everything+demo://…/features.md returns the server-everything resource", read_everything)

    async def read_unknown() -> tuple[bool, Any]:
        err, result = await expect_error(s.read_resource("nosuch+py://greeting"))
        return err is not None, result

    await c.attempt("resources/read of an unknown backend's URI is a JSON-RPC error", read_unknown)

    async def prompt() -> tuple[bool, Any]:
        names = [p.name for p in (await s.list_prompts()).prompts]
        r = await s.get_prompt("pystdio__review", {"code": "print(1)"})
        content = r.messages[0].content
        ok = "pystdio__review" in names and "rmcp__test_simple_prompt" in names
        return ok and isinstance(content, types.TextContent) and content.text.endswith("print(1)"), r

    await c.attempt("prompts/list + prompts/get pystdio__review (stdio backend)", prompt)

    async def progress() -> tuple[bool, Any]:
        seen: list[tuple[float, float | None]] = []

        async def on_progress(p: float, total: float | None, message: str | None) -> None:
            seen.append((p, total))

        r = await s.call_tool("pystdio__count_steps", {"steps": 3}, progress_callback=on_progress)
        return text_of(r) == "python counted 3 steps" and seen == [(1, 3), (2, 3), (3, 3)], {"seen": seen, "r": r}

    await c.attempt("progress notifications from the stdio backend reach the caller", progress)

    if era == "legacy":
        # Server-to-client requests exist only in the session-based era.
        async def sampling() -> tuple[bool, Any]:
            r = await s.call_tool("rmcp__test_sampling", {"prompt": "python asks"})
            asked = any("python asks" in m.content.text for p in sampling_callback.seen for m in p.messages  # type: ignore[attr-defined]
                        if isinstance(m.content, types.TextContent))
            return not r.is_error and text_of(r) == f"LLM response: {SAMPLED}" and asked, r

        await c.attempt("sampling round trip: rmcp__test_sampling gets this client's answer", sampling)


async def degraded(s: ClientSession, c: Checks, dead: str) -> None:
    alive = [b for b in BACKENDS if b != dead]

    async def list_tools() -> tuple[bool, Any]:
        r = await s.list_tools()
        names = [t.name for t in r.tools]
        present = {b: any(n.startswith(f"{b}__") for n in names) for b in BACKENDS}
        meta = r.meta or {}
        ok = all(present[b] for b in alive) and not present[dead] and meta.get(UNAVAILABLE) == [dead]
        return ok, {"present": present, "_meta": meta}

    await c.attempt(f"tools/list still lists {', '.join(alive)} and names {dead} in _meta[{UNAVAILABLE}]", list_tools)

    async def list_resources() -> tuple[bool, Any]:
        r = await s.list_resources()
        uris = [str(x.uri) for x in r.resources]
        meta = r.meta or {}
        ok = "rmcp+test://static-text" in uris and not any(u.startswith(f"{dead}+") for u in uris)
        return ok and meta.get(UNAVAILABLE) == [dead], {"uris": uris, "_meta": meta}

    await c.attempt(f"resources/list degrades the same way (names {dead})", list_resources)

    async def call_dead() -> tuple[bool, Any]:
        err, result = await expect_error(s.call_tool(f"{dead}__greet", {"name": "ghost"}))
        if err is None:
            return False, f"no JSON-RPC error; result: {result!r}"
        return names_backend(err, dead), f"code={err.code} message={err.message!r} data={err.data!r}"

    await c.attempt(f"tools/call {dead}__greet is a JSON-RPC error naming backend {dead}", call_dead)

    calls = [
        ("rmcp__echo", {"message": "still here"}, "still here"),
        ("everything__echo", {"message": "still here"}, "Echo: still here"),
        ("pystdio__greet", {"name": "survivor"}, "Hello, survivor! (from python)"),
    ]
    for name, args, want in calls:
        if name.split("__")[0] == dead:
            continue

        async def call(name: str = name, args: dict[str, Any] = args, want: str = want) -> tuple[bool, Any]:
            r = await s.call_tool(name, args)
            return not r.is_error and text_of(r) == want, r

        await c.attempt(f"tools/call {name} still answers with {dead} down", call)


async def wait_for_file(path: pathlib.Path, seconds: float) -> bool:
    """Bounded poll for `path` to exist."""
    with anyio.move_on_after(seconds):
        while not path.exists():
            await anyio.sleep(0.05)
        return True
    return False


async def run(url: str, era: str, dead: str | None, hold: pathlib.Path | None) -> int:
    label = f"py-{era}"
    c = Checks(label)
    try:
        with anyio.fail_after(90):
            async with streamable_http_client(url) as (read, write):
                async with ClientSession(
                    read, write, sampling_callback=sampling_callback,
                    client_info=types.Implementation(name="warden-e2e-py", version="1.0.0"),
                ) as s:
                    if dead and not hold:
                        c.label = f"{label} degraded"
                    try:
                        if era == "legacy":
                            await s.initialize()
                        else:
                            await s.discover()
                        c.check("initialize" if era == "legacy" else "server/discover", True)
                    except Exception:  # noqa: BLE001
                        c.check("initialize" if era == "legacy" else "server/discover", False, traceback.format_exc())
                        return 1
                    if not dead or hold:
                        await healthy(s, c, era)
                    if dead and hold:
                        # Same session: let the caller kill `dead`, then carry on.
                        (hold / "ready").touch()
                        c.label = f"{label} degraded (same session)"
                        if not await wait_for_file(hold / "go", 30):
                            c.check(f"told that {dead} was killed", False, f"{hold / 'go'} never appeared")
                            return 1
                    if dead:
                        await degraded(s, c, dead)
    except Exception:  # noqa: BLE001
        c.check("client ran to completion", False, traceback.format_exc())
    print(f"# {c.label}: {c.failed} failed", flush=True)
    return 1 if c.failed else 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--era", choices=["legacy", "modern"], default="legacy")
    parser.add_argument("--dead", help="a backend that was killed: check degraded behaviour instead")
    parser.add_argument(
        "--hold", type=pathlib.Path,
        help="with --dead: run the healthy checks, create HOLD/ready, wait for HOLD/go (the caller "
        "kills the backend in between), then run the degraded checks on the same session",
    )
    args = parser.parse_args()
    sys.exit(anyio.run(run, args.url, args.era, args.dead, args.hold))


if __name__ == "__main__":
    main()
