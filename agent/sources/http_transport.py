"""The requests session under :class:`~agent.sources.http.HttpClient`, and which addresses a
request may go to.

- The session reads the environment's proxy and CA-bundle settings once per host, and its pools
  report the connection each request takes to the requesting client (``connecting.sink``, set
  on the requesting thread), so that the client's ``abort()`` can cut a server that trickles
  its status line and headers, not only its body.
- A URL is followed only when it keeps the source's scheme, host and port (:func:`same_origin`);
  plain http is only quiet for a loopback host (:func:`is_loopback`).
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from requests.sessions import merge_hooks
from requests.structures import CaseInsensitiveDict
from requests.utils import get_netrc_auth

# The connection a request is about to use, handed to the requesting client on its own thread,
# so that its abort() can shut the socket down while the server is still sending the status
# line and headers (the body is read later, on the same connection).
connecting = threading.local()


def _report_connection(connection: Any) -> Any:
    sink = getattr(connecting, "sink", None)
    if sink is not None:
        sink(connection)
    return connection


class _TrackedHTTPPool(urllib3.HTTPConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        return _report_connection(super()._get_conn(timeout))


class _TrackedHTTPSPool(urllib3.HTTPSConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        return _report_connection(super()._get_conn(timeout))


_TRACKED_POOLS = {"http": _TrackedHTTPPool, "https": _TrackedHTTPSPool}


class _TrackingAdapter(HTTPAdapter):
    """requests' adapter, with pools that report each connection taken for a request."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _TRACKED_POOLS

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS has pools of its own
            manager.pool_classes_by_scheme = _TRACKED_POOLS
        return manager


class Session(requests.Session):
    """A requests session that reads the environment's proxy and CA-bundle settings once per host.

    requests reads them for every request (walking ``os.environ`` twice): on a 100-page poll
    that was about a tenth of the client's cost. The environment does not change while a
    source lives (a source is rebuilt when its config changes), so the answer is kept per
    scheme and host, exactly the parts of the URL that the settings depend on.
    """

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._netrc_auth: dict[str, Any] = {}
        self.mount("https://", _TrackingAdapter())
        self.mount("http://", _TrackingAdapter())

    @classmethod
    def for_source(
        cls, verify: bool | str, proxy: str, auth: Any, headers: Mapping[str, str]
    ) -> Session:
        """A session with one source's TLS verification, proxy, credentials and headers."""
        session = cls()
        session.verify = verify
        session.auth = auth
        session.headers.update(headers)
        if proxy:
            session.proxies = {"http": proxy, "https": proxy}
            session.trust_env = False
        return session

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        """requests' own preparation, with its merges done directly for the common case.

        requests merges the session's and the request's headers and params through a generic
        walk (a typing-Protocol ``isinstance`` per value, about a third of a request's
        preparation), builds two cookie jars when neither side has a cookie, and reads
        ``~/.netrc`` for every request. Here: the same merge rules as ``merge_setting`` (the
        request's value wins, a None value removes the key), an empty jar when there are no
        cookies, and the netrc answer kept per host like the environment settings. Anything
        else (params as a list of pairs, cookies on either side) takes requests' own path.
        """
        params, headers, url, method = request.params, request.headers, request.url, request.method
        if not (
            isinstance(url, str)
            and method is not None
            and isinstance(params, Mapping)
            and isinstance(self.params, Mapping)
            and isinstance(headers, Mapping)
            and not request.cookies
            and not len(self.cookies)
        ):
            return super().prepare_request(request)
        merged_headers: CaseInsensitiveDict[Any] = CaseInsensitiveDict(self.headers)
        merged_headers.update(headers)
        merged_params = {**self.params, **params}
        auth = request.auth
        if self.trust_env and not auth and not self.auth:
            auth = self._netrc(url)
        prepared = requests.PreparedRequest()
        prepared.prepare(
            method=method.upper(),
            url=url,
            files=request.files,
            data=request.data,
            json=request.json,
            headers=_without_none(merged_headers),
            params=_without_none(merged_params) or None,
            auth=self.auth if auth is None else auth,
            cookies=RequestsCookieJar(),
            hooks=merge_hooks(request.hooks, self.hooks),
        )
        return prepared

    def _netrc(self, url: str) -> Any:
        """The ~/.netrc credentials for ``url``'s host (requests reads the file per request)."""
        key = urlsplit(url).netloc
        if key not in self._netrc_auth:
            self._netrc_auth[key] = get_netrc_auth(url)
        return self._netrc_auth[key]

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        if proxies or not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, stream, verify, cert)
        settings = self._environment.get(key)
        if settings is None:
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            self._environment[key] = settings
        return {**settings, "proxies": dict(settings["proxies"])}


def _without_none(merged: Any) -> Any:
    """``merged`` without the keys whose value is None (how requests removes a session key)."""
    for key in [k for k, v in merged.items() if v is None]:
        del merged[key]
    return merged


def same_origin(url: str, base: str) -> bool:
    """True when ``url`` has the scheme, host and port of ``base`` (default ports filled in)."""
    try:
        a, b = urlsplit(url), urlsplit(base)
        return (
            a.scheme.lower() == b.scheme.lower()
            and (a.hostname or "") == (b.hostname or "")
            and _port(a.scheme, a.port) == _port(b.scheme, b.port)
            and not a.username
            and not a.password
        )
    except ValueError:  # a port that is not a number
        return False


def _port(scheme: str, port: int | None) -> int | None:
    if port is not None:
        return port
    return {"https": 443, "http": 80}.get(scheme.lower())


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
