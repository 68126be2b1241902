"""RFC 8693 token exchange against Warden, with independent implementations.

Requests are made with PyPI `authlib` (its requests OAuth2Session, client
secret and RFC 7523 `private_key_jwt` client authentication); issued tokens
are validated with PyPI `PyJWT` against the JWKS Warden publishes (found
through its RFC 8414 metadata). Subject and actor tokens come from a test
issuer whose keys this script makes (`keys` sub-command) and Warden loads
from files.

    python authlib_exchange.py keys DIR          # writes idp.pem/idp-jwks.json, client.pem/client-jwks.json
    python authlib_exchange.py run BASE_URL DIR  # the checks; TAP-like lines

Prints `ok - …` / `not ok - …` per check; exits 1 on any failure.
Driven by scripts/e2e-exchange.sh (which writes the matching Warden config).
"""

import json
import os
import sys
import time
import traceback
import uuid

import jwt  # PyJWT: the independent validator
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.integrations.base_client.errors import OAuthError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey  # authlib's key type (joserfc ships with authlib)

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
AT = "urn:ietf:params:oauth:token-type:access_token"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
IDP = "https://idp.e2e.test"
HR = "https://hr.example"
MAIL = "https://mail.example"
SECRET = "e2e-secret"

results = {"passed": 0, "failed": 0}


def check(name, cond, detail=""):
    if cond:
        print(f"ok - {name}")
        results["passed"] += 1
    else:
        print(f"not ok - {name}")
        if detail:
            print("#   " + str(detail)[:1500].replace("\n", "\n#   "))
        results["failed"] += 1
    sys.stdout.flush()
    return cond


def write_keys(d):
    os.makedirs(d, exist_ok=True)
    for name, kid in (("idp", "i1"), ("client", "c1")):
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        with open(os.path.join(d, f"{name}.pem"), "wb") as f:
            f.write(pem)
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
        jwk.update({"kid": kid, "use": "sig", "alg": "ES256"})
        with open(os.path.join(d, f"{name}-jwks.json"), "w") as f:
            json.dump({"keys": [jwk]}, f)


class Run:
    def __init__(self, base, d):
        self.base = base.rstrip("/")
        self.dir = d
        with open(os.path.join(d, "idp.pem"), "rb") as f:
            self.idp_pem = f.read()
        with open(os.path.join(d, "client.pem"), "rb") as f:
            self.client_pem = f.read()
        self.meta = requests.get(f"{self.base}/.well-known/oauth-authorization-server", timeout=10).json()
        self.token_endpoint = self.meta.get("token_endpoint", "")
        self.issuer = self.meta.get("issuer", "")
        self.jwks = jwt.PyJWKClient(self.meta.get("jwks_uri", ""), cache_keys=False)

    def subject(self, sub, scope="hr.read hr.write mail.send other", **extra):
        now = int(time.time())
        claims = {"iss": IDP, "sub": sub, "aud": self.issuer, "iat": now, "exp": now + 3600,
                  "scope": scope, "client_id": "web-app", "jti": str(uuid.uuid4())}
        claims.update(extra)
        return jwt.encode(claims, self.idp_pem, algorithm="ES256", headers={"kid": "i1", "typ": "at+jwt"})

    def session(self, client_id, method="client_secret_basic"):
        if method == "private_key_jwt":
            s = OAuth2Session(client_id, ECKey.import_key(self.client_pem), token_endpoint_auth_method="private_key_jwt")
            s.register_client_auth_method(PrivateKeyJWT(self.token_endpoint, alg="ES256"))
            return s
        return OAuth2Session(client_id, SECRET, token_endpoint_auth_method=method)

    def exchange(self, session, subject, **params):
        return session.fetch_token(self.token_endpoint, grant_type=GRANT, subject_token=subject,
                                   subject_token_type=AT, **params)

    def validate(self, token, aud):
        """PyJWT: signature with a published key, iss, aud, exp; the claims and header."""
        key = self.jwks.get_signing_key_from_jwt(token)
        claims = jwt.decode(token, key.key, algorithms=["ES256", "EdDSA"], audience=aud, issuer=self.issuer,
                            options={"require": ["exp", "iat", "iss", "sub", "aud", "jti"]})
        return claims, jwt.get_unverified_header(token)

    def raw(self, form, auth=(("secret-agent", SECRET))):
        r = requests.post(self.token_endpoint, data=form, auth=auth, timeout=10)
        try:
            body = r.json()
        except ValueError:
            body = {}
        return r, body

    def refused(self, name, form, status, code, auth=("secret-agent", SECRET)):
        r, body = self.raw(form, auth)
        desc = body.get("error_description", "")
        check(f"{name}: {status} {code}", r.status_code == status and body.get("error") == code
              and r.headers.get("cache-control") == "no-store" and "eyJ" not in desc,
              f"{r.status_code} {r.headers.get('cache-control')} {body}")
        return r


def run(base, d):
    t = Run(base, d)
    m = t.meta
    check("metadata: issuer, token endpoint, JWKS, token-exchange grant, private_key_jwt",
          m.get("issuer") == base.rstrip("/") and t.token_endpoint == f"{t.issuer}/oauth/token"
          and GRANT in m.get("grant_types_supported", [])
          and "private_key_jwt" in m.get("token_endpoint_auth_methods_supported", []), m)

    alice = t.subject("alice")
    # --- delegation with client_secret_basic -----------------------------------------------
    s = t.session("secret-agent")
    tok = t.exchange(s, alice, audience=HR, scope="hr.read")
    check("authlib client_secret_basic exchange: Bearer access token",
          tok.get("token_type") == "Bearer" and tok.get("issued_token_type") == AT and "scope" not in tok
          and 0 < tok.get("expires_in", 0) <= 300, dict(tok))
    claims, header = t.validate(tok["access_token"], HR)
    check("PyJWT validates it against the published JWKS; typ at+jwt", header.get("typ") == "at+jwt", header)
    check("claims: sub, single aud, scope, client_id, act = the client, sub_iss",
          claims["sub"] == "alice" and claims["aud"] == HR and claims["scope"] == "hr.read"
          and claims["client_id"] == "secret-agent" and claims["act"] == {"sub": "secret-agent"}
          and claims["sub_iss"] == IDP and claims["exp"] - claims["iat"] <= 300, claims)

    tok = t.exchange(t.session("secret-agent", "client_secret_post"), alice, resource=HR)
    claims, _ = t.validate(tok["access_token"], HR)
    check("client_secret_post, resource, no scope: subject scope ∩ client scopes, returned in `scope`",
          claims["scope"] == "hr.read hr.write mail.send" and tok.get("scope") == "hr.read hr.write mail.send",
          (claims, dict(tok)))

    # --- private_key_jwt (RFC 7523) ---------------------------------------------------------
    tok = t.exchange(t.session("pk-agent", "private_key_jwt"), alice, audience=MAIL, scope="mail.send")
    claims, _ = t.validate(tok["access_token"], MAIL)
    check("authlib private_key_jwt (ES256, aud = token endpoint)",
          claims["client_id"] == "pk-agent" and claims["act"] == {"sub": "pk-agent"}, claims)
    assertion = private_key_jwt_sign(ECKey.import_key(t.client_pem), "pk-agent", t.issuer, alg="ES256")
    form = {"grant_type": GRANT, "subject_token": alice, "subject_token_type": AT, "audience": HR,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion}
    r, body = t.raw(form, auth=None)
    check("private_key_jwt with aud = issuer", r.status_code == 200, body)
    t.refused("the same assertion again (jti replay)", form, 401, "invalid_client", auth=None)
    other = ec.generate_private_key(ec.SECP256R1())
    other_pem = other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    forged = private_key_jwt_sign(ECKey.import_key(other_pem), "pk-agent", t.token_endpoint, alg="ES256",
                                  header={"kid": "c1"})
    t.refused("assertion signed by another key", dict(form, client_assertion=forged), 401, "invalid_client", auth=None)

    # --- delegation chains, may_act, impersonation ---------------------------------------------
    chained = t.subject("alice", act={"sub": "orchestrator", "iss": IDP})
    bot = t.subject("hr-bot", scope="")
    tok = t.exchange(s, chained, audience=HR, actor_token=bot, actor_token_type=AT)
    claims, _ = t.validate(tok["access_token"], HR)
    check("actor token names the actor; the prior chain is nested",
          claims["act"] == {"sub": "hr-bot", "iss": IDP, "act": {"sub": "orchestrator", "iss": IDP}}, claims)
    first = t.exchange(s, alice, audience=HR, scope="hr.read")["access_token"]
    tok = t.exchange(t.session("pk-agent", "private_key_jwt"), first, audience=MAIL)
    claims, _ = t.validate(tok["access_token"], MAIL)
    check("Warden's own token as subject: chain grows, scope stays",
          claims["scope"] == "hr.read" and claims["act"] == {"sub": "pk-agent", "act": {"sub": "secret-agent"}}
          and claims["sub_iss"] == IDP, claims)
    tok = t.exchange(s, t.subject("alice", may_act={"sub": "secret-agent"}), audience=HR)
    check("may_act naming the client is honoured", bool(tok.get("access_token")), dict(tok))
    try:
        t.exchange(s, t.subject("alice", may_act={"sub": "someone-else"}), audience=HR)
        check("may_act naming someone else is refused", False, "issued")
    except (OAuthError, OAuth2Error) as e:
        check("may_act naming someone else: authlib raises invalid_request", e.error == "invalid_request", e)
    tok = t.exchange(t.session("impersonator"), alice, audience=HR)
    claims, _ = t.validate(tok["access_token"], HR)
    check("impersonation (mayImpersonate client, no actor token): no act", "act" not in claims, claims)
    tok = t.exchange(s, alice, audience=HR, requested_token_type=JWT_TYPE)
    check("requested_token_type jwt: issued_token_type jwt, token_type N_A",
          tok.get("issued_token_type") == JWT_TYPE and tok.get("token_type") == "N_A", dict(tok))
    short = t.subject("alice", exp=int(time.time()) + 30)
    claims, _ = t.validate(t.exchange(s, short, audience=HR)["access_token"], HR)
    check("lifetime never beyond the subject token", claims["exp"] <= int(time.time()) + 31, claims)

    # --- RFC 8693 §2.2.2 and RFC 6749 §5.2 errors ---------------------------------------------
    base_form = {"grant_type": GRANT, "subject_token": alice, "subject_token_type": AT, "audience": HR}
    t.refused("missing subject_token", {k: v for k, v in base_form.items() if k != "subject_token"}, 400,
              "invalid_request")
    t.refused("missing subject_token_type", {k: v for k, v in base_form.items() if k != "subject_token_type"},
              400, "invalid_request")
    t.refused("actor_token without actor_token_type", dict(base_form, actor_token=bot), 400, "invalid_request")
    forged_subject = jwt.encode({"iss": IDP, "sub": "alice", "aud": t.issuer, "exp": int(time.time()) + 60},
                                other_pem, algorithm="ES256", headers={"kid": "i1"})
    t.refused("subject token with a bad signature", dict(base_form, subject_token=forged_subject), 400,
              "invalid_request")
    expired = t.subject("alice", iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    t.refused("expired subject token", dict(base_form, subject_token=expired), 400, "invalid_request")
    t.refused("audience the client may not get", dict(base_form, audience="https://payroll.example"), 400,
              "invalid_target")
    t.refused("two audiences", [*base_form.items(), ("audience", MAIL)], 400, "invalid_target")
    t.refused("scope the subject does not hold", dict(base_form, scope="admin"), 400, "invalid_scope")
    t.refused("client with no audiences", base_form, 400, "unauthorized_client", auth=("lonely", SECRET))
    r = t.refused("wrong client secret", base_form, 401, "invalid_client", auth=("secret-agent", "wrong"))
    check("invalid_client carries WWW-Authenticate: Basic", r.headers.get("www-authenticate", "").startswith("Basic"),
          dict(r.headers))
    t.refused("unknown grant type", {"grant_type": "urn:example:grant"}, 400, "unsupported_grant_type")
    try:
        t.exchange(s, alice, audience=HR, scope="hr.read admin")
        check("authlib sees invalid_scope", False, "issued")
    except (OAuthError, OAuth2Error) as e:
        check("authlib sees invalid_scope", e.error == "invalid_scope", e)
    return results["failed"] == 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "keys":
        write_keys(sys.argv[2])
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "run":
        try:
            ok = run(sys.argv[2], sys.argv[3])
        except Exception:  # a crash is a failure, with its reason
            check("the run completed", False, traceback.format_exc())
            ok = False
        return 0 if ok else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
