"""OAuth 2 sign-in for sources that need it (Microsoft 365 and Google mailboxes, Zendesk).

Two ways to sign in, both ending with a refresh token in the keyring under the source's name:

* the **browser** way: authorization code with PKCE (RFC 7636) through the person's own browser,
  which comes back to a one-shot loopback listener on ``http://127.0.0.1:<port>/`` (RFC 8252);
* the **device code** way (RFC 8628): Ticketbell shows a short code and a web address, the person
  types the code there on any device, and Ticketbell polls the token endpoint until they did.

A source asks :class:`AccessTokens` for a current access token: it is renewed with the refresh
token shortly before it expires, and once more when the server refuses it (a 401 or a failed
IMAP login). A refresh token the provider refuses (revoked, expired, password changed) is
forgotten and the source raises :class:`~agent.sources.base.SignInNeeded`: the health says
"sign-in needed" and the agent stops asking the provider until the person signs in again.

The OAuth protocol itself is Authlib's (``authlib.integrations.requests_client``). Microsoft's
own MSAL is not used: it keeps refresh tokens in its own token cache and accepts only Microsoft
authorities, while here the refresh token lives in the keyring entry of the source and the same
code is proven against a local OAuth server in the tests. Access and refresh tokens are
registered with :func:`agent.secrets.remember`, so no log line or message carries them.

The package: ``providers`` (where to sign in, the client of a source, warnings), ``tokens``
(current access tokens and their renewal), ``flows`` (the browser and device code sign-ins,
sign-out). ``agent.signin`` re-exports what sources, the CLI and the settings window call.
"""
