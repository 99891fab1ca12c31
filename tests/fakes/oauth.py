"""A local OAuth 2 authorization server for the sign-in tests, on 127.0.0.1.

It answers as the RFCs write it, which Microsoft's and Google's endpoints follow:

* RFC 6749 (OAuth 2.0): authorization endpoint 4.1.1/4.1.2 (302 back to the redirect URI with
  ``code`` and ``state``, or ``error=access_denied``), token endpoint 4.1.3 and 6 (refresh),
  error bodies 5.2 (400 ``{"error": "invalid_grant", "error_description": ...}``);
* RFC 7636 (PKCE): ``code_challenge`` S256 at the authorization endpoint, ``code_verifier``
  checked at the token endpoint (``invalid_grant`` when it does not match);
* RFC 8252 7.3: any port of a loopback redirect URI is accepted;
* RFC 8628 (device authorization grant): 3.1/3.2 device authorization response, 3.3 the
  verification page the person types the code into, 3.5 ``authorization_pending``,
  ``slow_down``, ``access_denied``, ``expired_token``;
* RFC 7009 (revocation): 200 also for a token that is unknown; revoking a refresh token ends
  its access tokens too (2.1);
* RFC 7662 (introspection): ``{"active": false}`` for an unknown, expired or revoked token, else
  ``active``, ``username``, ``exp``, ``scope``, ``client_id`` (Dovecot's oauth2 passdb asks it);
* RFC 8414 (metadata) at ``/.well-known/oauth-authorization-server``.

Access tokens expire after ``access_lifetime`` seconds of the server's clock, which
:meth:`advance` moves; refresh tokens rotate when ``rotate`` is true (as Microsoft's do). Every
token it hands out is registered with the suite's secret scan. ``paths`` lets a fake helpdesk
mount the same server on its own paths (Zendesk: ``/oauth/authorizations/new``, ``/oauth/tokens``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from werkzeug import Request, Response

from tests import secretscan
from tests.fakes.web import json_response

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
PATHS = {
    "authorize": "/authorize",
    "token": "/token",
    "device": "/devicecode",
    "verify": "/device",
    "revoke": "/revoke",
    "introspect": "/introspect",
}


@dataclass
class Grant:
    """What one refresh token (and the access tokens made from it) stands for."""

    client_id: str
    username: str
    scope: str
    active: bool = True


class FakeOAuthServer:
    def __init__(
        self,
        base: str,
        client_id: str,
        username: str,
        paths: dict[str, str] | None = None,
        access_lifetime: int = 3600,
        rotate: bool = True,
    ) -> None:
        self.base = base
        self.client_id = client_id
        self.username = username  # the person who signs in at the pages
        self.paths = {**PATHS, **(paths or {})}
        self.access_lifetime = access_lifetime
        self.device_interval: object = 1  # what the device endpoint answers (RFC 8628 3.2)
        self.device_expires_in: object = 600
        self.rotate = rotate
        self.deny = False  # the person presses "Deny"
        self.offset = 0.0
        self.codes: dict[str, dict[str, str]] = {}
        self.devices: dict[str, dict[str, Any]] = {}  # device_code -> state
        self.refresh: dict[str, Grant] = {}
        self.access: dict[str, tuple[Grant, float]] = {}  # token -> (grant, expires at)
        self.calls: list[str] = []  # "grant_type" of each token request, in order

    # ------------------------------------------------------------------ the test's controls

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def revoke_all(self) -> None:
        """The person's sign-ins are revoked (password changed, admin revoked the sessions)."""
        for grant in self.refresh.values():
            grant.active = False

    def approve(self, user_code: str) -> None:
        """What a person does on the verification page: type the code and allow access."""
        for device in self.devices.values():
            if device["user_code"] == user_code:
                device["approved"] = True

    def active(self, token: str) -> bool:
        found = self.access.get(token)
        return bool(found and found[0].active and found[1] > self.now())

    def _new(self, prefix: str) -> str:
        return secretscan.register_secret(f"{prefix}-{secrets.token_urlsafe(24)}")

    # ------------------------------------------------------------------ endpoints

    def handle(self, request: Request) -> Response | None:
        """The answer for ``request``, or None when its path is not one of this server's."""
        path = request.path
        names = {v: k for k, v in self.paths.items()}
        if path == "/.well-known/oauth-authorization-server":
            return json_response(
                {
                    "issuer": self.base,
                    "authorization_endpoint": self.base + self.paths["authorize"],
                    "token_endpoint": self.base + self.paths["token"],
                    "device_authorization_endpoint": self.base + self.paths["device"],
                    "revocation_endpoint": self.base + self.paths["revoke"],
                    "introspection_endpoint": self.base + self.paths["introspect"],
                    "code_challenge_methods_supported": ["S256"],
                }
            )
        name = names.get(path)
        if name is None:
            return None
        return getattr(self, f"_{name}")(request)

    def _authorize(self, request: Request) -> Response:
        q = request.args
        redirect = q.get("redirect_uri", "")
        parts = urlsplit(redirect)
        if q.get("client_id") != self.client_id or parts.hostname not in ("127.0.0.1", "localhost"):
            # 4.1.2.1: a bad client or redirect URI is shown to the person, never redirected to
            return Response("unknown client or redirect URI", status=400)
        state = q.get("state", "")
        if self.deny:
            return self._back(redirect, {"error": "access_denied", "state": state})
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256":
            return self._back(redirect, {"error": "invalid_request", "state": state})
        # Not registered with the secret scan: a code is used once, at once, and sits in the
        # browser's history by design (RFC 6749 10.5); the test's "browser" logs the redirect.
        code = f"code-{secrets.token_urlsafe(24)}"
        self.codes[code] = {
            "redirect_uri": redirect,
            "challenge": q.get("code_challenge", ""),
            "scope": q.get("scope", ""),
        }
        return self._back(redirect, {"code": code, "state": state})

    @staticmethod
    def _back(redirect: str, params: dict[str, str]) -> Response:
        return Response("", status=302, headers={"Location": f"{redirect}?{urlencode(params)}"})

    def _form(self, request: Request) -> dict[str, str]:
        if request.mimetype == "application/json":  # Zendesk documents JSON bodies
            data = json.loads(request.get_data() or b"{}")
            return {k: str(v) for k, v in data.items()}
        return dict(request.form)

    @staticmethod
    def _error(error: str, description: str, status: int = 400) -> Response:
        return json_response({"error": error, "error_description": description}, status)

    def _token(self, request: Request) -> Response:
        form = self._form(request)
        grant_type = form.get("grant_type", "")
        self.calls.append(grant_type)
        if form.get("client_id") != self.client_id:
            return self._error("invalid_client", "unknown client", 401)
        if grant_type == "authorization_code":
            code = self.codes.pop(form.get("code", ""), None)
            if code is None or code["redirect_uri"] != form.get("redirect_uri"):
                return self._error("invalid_grant", "the code is invalid or was used")
            verifier = form.get("code_verifier", "").encode()
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
            if challenge.decode() != code["challenge"]:
                return self._error("invalid_grant", "PKCE verification failed")
            return self._issue(Grant(self.client_id, self.username, code["scope"]))
        if grant_type == "refresh_token":
            old = form.get("refresh_token", "")
            grant = self.refresh.get(old)
            if grant is None or not grant.active:
                return self._error("invalid_grant", "the refresh token is expired or revoked")
            if self.rotate:
                del self.refresh[old]
            return self._issue(grant, keep=None if self.rotate else old)
        if grant_type == DEVICE_GRANT:
            device = self.devices.get(form.get("device_code", ""))
            if device is None or device["expires"] < self.now():
                return self._error("expired_token", "the device code expired")
            if device.get("denied"):
                return self._error("access_denied", "the person refused")
            if not device.get("approved"):
                return self._error("authorization_pending", "waiting for the person")
            del self.devices[form["device_code"]]
            return self._issue(Grant(self.client_id, self.username, device["scope"]))
        return self._error("unsupported_grant_type", grant_type)

    def _issue(self, grant: Grant, keep: str | None = None) -> Response:
        access = self._new("at")
        refresh = keep or self._new("rt")
        self.refresh[refresh] = grant
        self.access[access] = (grant, self.now() + self.access_lifetime)
        return json_response(
            {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": self.access_lifetime,
                "scope": grant.scope,
                "refresh_token": refresh,
            },
            headers={"Cache-Control": "no-store"},
        )

    def _device(self, request: Request) -> Response:
        form = self._form(request)
        if form.get("client_id") != self.client_id:
            return self._error("invalid_client", "unknown client", 401)
        device_code = self._new("dc")
        user_code = "-".join(
            "".join(secrets.choice("BCDFGHJKLMNPQRSTVWXZ") for _ in range(4)) for _ in range(2)
        )
        self.devices[device_code] = {
            "user_code": user_code,
            "scope": form.get("scope", ""),
            "expires": self.now() + 600,
        }
        verify = self.base + self.paths["verify"]
        return json_response(
            {
                "device_code": device_code,
                "user_code": user_code,
                "verification_uri": verify,
                "verification_uri_complete": f"{verify}?{urlencode({'user_code': user_code})}",
                "expires_in": self.device_expires_in,
                "interval": self.device_interval,
            }
        )

    def _verify(self, request: Request) -> Response:
        """The page the person opens: a form for the code; posting it allows access."""
        if request.method == "GET":
            return Response(
                '<form method="post"><input name="user_code"><button>Allow</button></form>',
                content_type="text/html",
            )
        code = request.form.get("user_code", "").strip().upper()
        known = [d for d in self.devices.values() if d["user_code"] == code]
        if not known:
            return Response("That code is not valid.", status=400, content_type="text/plain")
        for device in known:
            device["denied" if self.deny else "approved"] = True
        return Response("You may close this window.", content_type="text/plain")

    def _revoke(self, request: Request) -> Response:
        token = self._form(request).get("token", "")
        if token in self.refresh:
            self.refresh[token].active = False
        self.access.pop(token, None)
        return Response("", status=200)

    def _introspect(self, request: Request) -> Response:
        token = self._form(request).get("token", "")
        if not self.active(token):
            return json_response({"active": False})
        grant, expires = self.access[token]
        return json_response(
            {
                "active": True,
                "username": grant.username,
                "exp": int(expires),
                "scope": grant.scope,
                "client_id": grant.client_id,
                "token_type": "Bearer",
            }
        )
