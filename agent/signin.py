"""OAuth 2 sign-in for sources that need it: the names sources, the CLI and the settings window
use. The code lives in :mod:`agent.auth` (providers, tokens, flows).
"""

from __future__ import annotations

from agent.auth.flows import (
    DEVICE_GRANT,
    SIGN_IN_TIMEOUT,
    DeviceCode,
    SignInFailed,
    browser_sign_in,
    finish_device_code,
    sign_in,
    sign_out,
    start_device_code,
)
from agent.auth.providers import (
    PROVIDERS,
    ZENDESK_TOKENS_END,
    Client,
    Provider,
    auth_warnings,
    client_for,
    discover,
    sign_in_options,
    uses_oauth,
)
from agent.auth.tokens import RENEW_AHEAD, AccessTokens, bearer_auth, sign_in_needed, tokens_for

__all__ = [
    "DEVICE_GRANT",
    "PROVIDERS",
    "RENEW_AHEAD",
    "SIGN_IN_TIMEOUT",
    "ZENDESK_TOKENS_END",
    "AccessTokens",
    "Client",
    "DeviceCode",
    "Provider",
    "SignInFailed",
    "auth_warnings",
    "bearer_auth",
    "browser_sign_in",
    "client_for",
    "discover",
    "finish_device_code",
    "sign_in",
    "sign_in_needed",
    "sign_in_options",
    "sign_out",
    "start_device_code",
    "tokens_for",
    "uses_oauth",
]
