"""An upstream MCP server protected by its own authorization server, written with the
official Python SDK (PyPI `mcp` 2.x): the upstream of Warden's `oauthClient` credential in
crates/warden/tests/upstream_oauth.rs and scripts/e2e-upstream-oauth.sh.

    python upstream_mcp.py --issuer http://127.0.0.1:AS_PORT [--scope mcp:tools]

Binds 127.0.0.1 on a free port and prints `listening on http://127.0.0.1:PORT/mcp` once bound.
The SDK serves Protected Resource Metadata (RFC 9728) naming the issuer and answers requests
without a valid token with 401 and `WWW-Authenticate: Bearer resource_metadata=…`.
Tokens are verified here with PyJWT against the issuer's JWKS: signature, `iss`, `exp`, and
`aud` = this server's URL (RFC 8707). Tool `whoami` returns the token's `sub`, `iss`, `aud`,
`client_id` and the SHA-256 of the token itself, so a test can tell whose token arrived.
"""

import argparse
import hashlib
import json
import socket

import anyio
import jwt
import uvicorn

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer


class JwksVerifier:
    """Verifies ES256 JWT access tokens of `issuer` for `audience`."""

    def __init__(self, issuer: str, audience: str) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwt.PyJWKClient(f"{issuer}/jwks")

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            key = await anyio.to_thread.run_sync(self.jwks.get_signing_key_from_jwt, token)
            claims = jwt.decode(
                token, key.key, algorithms=["ES256"], issuer=self.issuer, audience=self.audience,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as e:
            print(f"rejected token: {type(e).__name__}", flush=True)
            return None
        return AccessToken(
            token=token,
            client_id=str(claims.get("client_id", "")),
            scopes=str(claims.get("scope", "")).split(),
            expires_at=claims.get("exp"),
            resource=self.audience,
            subject=claims.get("sub"),
            claims=claims,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--scope", default="mcp:tools")
    args = parser.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections queue from now on, so "listening" below is true
    port = sock.getsockname()[1]
    resource = f"http://127.0.0.1:{port}/mcp"

    server = MCPServer(
        "warden-upstream-oauth",
        token_verifier=JwksVerifier(args.issuer, resource),
        auth=AuthSettings(
            issuer_url=args.issuer, resource_server_url=resource, required_scopes=[args.scope],
            validate_token_resource=True,
        ),
    )

    @server.tool()
    def whoami() -> str:
        """Who the bearer token belongs to (and a hash of the token)."""
        at = get_access_token()
        if at is None:
            return json.dumps({"error": "no token"})
        c = at.claims or {}
        return json.dumps({
            "sub": at.subject, "iss": c.get("iss"), "aud": c.get("aud"), "client_id": at.client_id,
            "scope": at.scopes, "token_sha256": hashlib.sha256(at.token.encode()).hexdigest(),
        })

    app = server.streamable_http_app(stateless_http=True, json_response=True)
    config = uvicorn.Config(app, log_level="warning")
    print(f"listening on {resource}", flush=True)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
