"""An MCP server (official Python SDK, PyPI `mcp` 2.x) that checks the credential Warden
sent it, for scripts/e2e-delegation.sh.

    python delegation_server.py --port 8123 --name hr \
        --jwks http://127.0.0.1:8080/oauth/jwks --issuer http://127.0.0.1:8080 --audience https://hr.internal
    python delegation_server.py --port 8124 --name partner-api --api-key-header x-api-key --api-key-env PARTNER_KEY

Tool `whoami`: with --jwks, verifies the request's `Authorization: Bearer` token with PyJWT
against Warden's JWKS (signature, `iss`, `aud` = --audience only, `exp`) and returns its
claims as JSON, or `{"error": …}`; with --api-key-header, returns `{"api_key": "ok"}` only
when that header carries the expected key (from --api-key-env), else `{"error": …}`.
Prints `listening on http://127.0.0.1:PORT/mcp` when ready.
"""

import argparse
import json
import os

import jwt
from mcp.server.mcpserver import Context, MCPServer


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--jwks")
    p.add_argument("--issuer")
    p.add_argument("--audience")
    p.add_argument("--api-key-header")
    p.add_argument("--api-key-env")
    a = p.parse_args()
    server = MCPServer(f"delegation-{a.name}")
    jwks = jwt.PyJWKClient(a.jwks) if a.jwks else None

    @server.tool()
    def whoami(ctx: Context) -> str:
        """Reports what credential this server received (verified)."""
        req = ctx.request_context.request
        headers = req.headers if req is not None else {}
        if a.api_key_header:
            want = os.environ.get(a.api_key_env or "", "")
            got = headers.get(a.api_key_header, "")
            if want and got == want:
                return json.dumps({"server": a.name, "api_key": "ok",
                                   "authorization": headers.get("authorization") is not None})
            return json.dumps({"server": a.name, "error": "wrong or missing api key"})
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return json.dumps({"server": a.name, "error": "no bearer token"})
        token = auth[len("Bearer "):]
        try:
            key = jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(token, key.key, algorithms=["ES256", "EdDSA"], audience=a.audience,
                                issuer=a.issuer, options={"require": ["exp", "iss", "aud", "sub"]})
        except Exception as e:  # noqa: BLE001 - reported to the test
            return json.dumps({"server": a.name, "error": f"invalid token: {e}"})
        claims["server"] = a.name
        claims["typ"] = jwt.get_unverified_header(token).get("typ")
        return json.dumps(claims)

    print(f"listening on http://127.0.0.1:{a.port}/mcp", flush=True)
    server.run("streamable-http", host="127.0.0.1", port=a.port)


if __name__ == "__main__":
    main()
