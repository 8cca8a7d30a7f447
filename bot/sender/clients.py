"""The outbox sender's ConnectorClients: one per service URL, the SDK's with its credentials, on
the sender's own aiohttp connection pool and request timeout (not the adapter's shared ones)."""

from __future__ import annotations

from typing import Any

import aiohttp
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
)

from bot.adapter import (
    MAX_CACHED_CLIENTS,
    ClientCache,
    use_aiohttp,
    use_fast_activity_bodies,
    use_fast_json_objects,
)


class ConnectorClients:
    """A bounded cache of ConnectorClients by service URL, and the HTTP session they share.

    `auth` is used through `create_connector_factory`; `pool_size` bounds the connections.
    """

    def __init__(
        self,
        auth: BotFrameworkAuthentication,
        app_id: str,
        *,
        request_timeout: float,
        token_timeout: float,
        pool_size: int,
    ) -> None:
        self.auth = auth
        self.app_id = app_id
        self.request_timeout = request_timeout
        self.token_timeout = token_timeout
        self.pool_size = pool_size
        self._clients = ClientCache(MAX_CACHED_CLIENTS)  # per service URL, bounded
        self._http: aiohttp.ClientSession | None = None
        self._factory: Any = None

    def __len__(self) -> int:
        """How many clients are cached (at most MAX_CACHED_CLIENTS)."""
        return len(self._clients)

    def _claims(self) -> ClaimsIdentity:
        return ClaimsIdentity(
            {
                AuthenticationConstants.AUDIENCE_CLAIM: self.app_id,
                AuthenticationConstants.APP_ID_CLAIM: self.app_id,
            },
            True,
        )

    def _http_session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.pool_size, ttl_dns_cache=300)
            )
        return self._http

    async def get(self, service_url: str) -> ConnectorClient:
        """The ConnectorClient for a service URL: the SDK's, with its credentials, but with
        msrest's own retries off and our request timeout."""
        found: ConnectorClient | None = self._clients.get((service_url,))
        if found is None:
            if self._factory is None:
                self._factory = self.auth.create_connector_factory(self._claims())
            found = await self._factory.create(service_url, None)
            # The adapter's transport (one aiohttp session, msrest's pipeline and signing kept):
            # it never retries on its own, so every retry is ours and counted, and it costs a
            # third of the CPU of msrest's requests-on-a-thread.
            found.config.connection.timeout = self.request_timeout
            use_fast_json_objects(found)
            use_fast_activity_bodies(found)
            use_aiohttp(found, self._http_session, token_timeout=self.token_timeout)
            self._clients.put((service_url,), found)
        return found

    async def aclose(self) -> None:
        """Close the HTTP connections (the clients make a new session if used again)."""
        if self._http is not None:
            await self._http.close()
            self._http = None
