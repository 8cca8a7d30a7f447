"""The Bot Framework CloudAdapter, configured from Settings, with connector clients reused.

Why the reuse: for every turn the SDK (4.17) builds a new ConnectorClient and a new
UserTokenClient, and msrest's `ClientRetryPolicy.__init__` computes
`[i for i in range(999) if i not in self.safe_codes]` against a 500-item *list* for each: about
250,000 comparisons, twice per turn, which profiling showed to be most of a bare echo bot's CPU.
Instead of patching msrest, `CachingBotFrameworkAuthentication` wraps the SDK's authentication
and hands out one ConnectorClient per (app id, service URL, audience) and one UserTokenClient per
app id. Both are safe to share: their credentials fetch and refresh tokens per request, and
nothing turn-specific is stored on them. More costs of each reply are cut on those cached
clients, each explained where it is done: msrest's generic serialisation of card content and its
validation walk (`use_fast_json_objects`) and of the whole activity (`use_fast_activity_bodies`,
bot/activity_codec.py), the SDK's deep copy of every card
(`SharedCardContent`) and msrest's requests-on-a-thread HTTP sender (`use_aiohttp`).
benchmarks/answer_roundtrip.py measures the difference against the unmodified SDK.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import requests
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
)
from botbuilder.schema import Activity
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AuthenticateRequestResult,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    UserTokenClient,
    jwt_token_extractor,
)
from msrest.exceptions import ClientRequestError
from msrest.pipeline import AsyncPipeline, Request, Response
from msrest.pipeline.async_abc import AsyncHTTPPolicy, AsyncHTTPSender
from msrest.pipeline.requests import RequestsContext
from msrest.pipeline.universal import RawDeserializer
from msrest.universal_http.aiohttp import AioHttpClientResponse

from bot.activity_codec import fast_activity_json, reuse_body_deserializer
from bot.config import Settings

log = logging.getLogger(__name__)

MAX_CACHED_CLIENTS = 64  # service URLs are a handful per cloud region; this only bounds a misuse
TOKEN_TIMEOUT_SECONDS = 10.0  # longest wait for a token from Entra ID (MSAL has no timeout)
TOKEN_REUSE_SECONDS = 120.0  # MSAL hands out tokens with at least 5 minutes left
SIGNING_KEYS_TIMEOUT_SECONDS = 10.0


class SigningKeysUnavailable(Exception):
    """The Bot Framework's OpenID metadata or signing keys could not be fetched (try later)."""


async def _refresh_signing_keys(metadata: Any) -> None:
    """botframework-connector's `_OpenIdMetadata._refresh`, off the event loop, with a timeout.

    The SDK (4.17) fetches the OpenID metadata and the signing keys with a blocking
    `requests.get` and no timeout, inside a coroutine: a slow endpoint would stall every turn.
    This does the same two requests on a worker thread, each with a timeout, and keeps the SDK's
    cache (`keys`, `last_updated`) as it does.
    """

    def fetch() -> list[Any]:
        response = requests.get(metadata.url, timeout=SIGNING_KEYS_TIMEOUT_SECONDS)
        response.raise_for_status()
        keys = requests.get(response.json()["jwks_uri"], timeout=SIGNING_KEYS_TIMEOUT_SECONDS)
        keys.raise_for_status()
        return list(keys.json()["keys"])

    try:
        keys = await asyncio.to_thread(fetch)
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        raise SigningKeysUnavailable(type(exc).__name__) from exc
    metadata.keys = keys
    metadata.last_updated = datetime.now()


def fetch_signing_keys_off_loop() -> None:
    """Replace the SDK's blocking key fetch for this process (idempotent)."""
    jwt_token_extractor._OpenIdMetadata._refresh = _refresh_signing_keys


@dataclass(frozen=True)
class _AuthConfiguration:
    """The attribute names ConfigurationBotFrameworkAuthentication reads."""

    APP_ID: str
    APP_PASSWORD: str
    APP_TYPE: str
    APP_TENANTID: str


_JSON_SCALARS = (str, int, float, bool, type(None))


def _plain_json(value: Any) -> bool:
    if isinstance(value, _JSON_SCALARS):
        return True
    if isinstance(value, dict):
        return all(isinstance(key, str) and _plain_json(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_plain_json(item) for item in value)
    return False


class SharedCardContent(dict[str, Any]):
    """A card's JSON as our card builders made it: plain JSON that nothing changes afterwards.

    Two walks over every card on every reply are skipped for it: `TurnContext.send_activities`
    deep-copies each outgoing activity (for a question card, a few hundred dicts, lists and
    strings; a twentieth of an answer turn's CPU in the profile), and `use_fast_json_objects`
    would check that it is plain JSON. The copy shares it instead, and the check is not needed:
    the builders return JSON (tests/bot/cards/rendering serialises every card they make).
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> SharedCardContent:
        return self


class ReplyActivity(Activity):  # type: ignore[misc]
    """An activity this bot sends in a turn, built fresh for the one send (`bot.replies`).

    `TurnContext.send_activities` deep-copies every activity so that filling in the conversation
    (recipient, conversation, reply-to id, ...) does not change the caller's object: a walk
    over the activity's forty-odd fields and every model inside them, a tenth of an answer
    turn's CPU on the event loop. It only ever assigns the copy's own fields, so a shallow copy
    isolates the caller just as well; nothing changes the parts (attachments, card content).
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> ReplyActivity:
        return copy.copy(self)


def use_fast_json_objects(client: ConnectorClient) -> None:
    """Serialise free-form JSON (an Adaptive Card's content) without msrest's generic walk.

    msrest serialises an attachment's `content` (type "object") node by node, dispatching every
    string through `eval`-based type lookups: ~0.9 ms for one question card, the largest cost of
    a turn after the client reuse above. Our cards are plain JSON already (dicts, lists, str,
    numbers, bool, None), which msrest would return unchanged; for those this returns the value
    as it is, and anything else still goes through msrest. Patched on our cached clients only.
    tests/test_adapter.py fails if msrest's Serializer stops dispatching "object" this way.
    """
    serializer = client._serialize
    original = serializer.serialize_type["object"]

    def serialize_object(attr: Any, **kwargs: Any) -> Any:
        if type(attr) is SharedCardContent:
            return attr
        if isinstance(attr, dict | list) and _plain_json(attr):
            return attr
        return original(attr, **kwargs)

    serializer.serialize_type["object"] = serialize_object
    # msrest validates every model against its `_validation` rules before serialising it, a
    # walk over the whole activity. botbuilder-schema declares no rules on any model
    # (tests/bot/test_adapter.py checks), so the walk can find nothing: skip it.
    serializer.client_side_validation = False
    reuse_body_deserializer(serializer)  # no new reference cycle per request (bot/activity_codec)


def use_fast_activity_bodies(client: ConnectorClient) -> None:
    """Serialise the activities the client sends (replies, updates, the outbox's messages) with
    `bot.activity_codec.fast_activity_json`: the JSON msrest's `Serializer.body` would return,
    without its generic walk. Anything that module cannot reproduce exactly, and every other
    body, still goes through msrest's `body`. Patched on our cached clients only, after
    `use_fast_json_objects` (whose card serialiser it calls, as msrest would)."""
    serializer = client._serialize
    msrest_body = serializer.body

    def body(data: Any, data_type: str, **kwargs: Any) -> Any:
        if data_type == "Activity" and not kwargs:
            fast = fast_activity_json(data, serializer)
            if fast is not None:
                return fast
        return msrest_body(data, data_type, **kwargs)

    serializer.body = body


class AioHttpSender(AsyncHTTPSender):  # type: ignore[misc]
    """msrest's HTTP sender contract over a shared aiohttp session.

    The SDK's async ConnectorClient sends through `requests` on a worker thread (msrest's
    AsyncRequestsHTTPSender): a thread hop, a requests.Session and urllib3 per request, which
    measured ~1.3 ms of CPU per reply against ~0.4 ms for the same POST over aiohttp. This keeps
    everything else of msrest's pipeline (user agent, the credentials' signing, deserialisation,
    logging): the credentials still sign a requests.Session, whose headers (Authorization) are
    copied onto each aiohttp request. Used for the adapter's cached clients only.
    """

    def __init__(
        self, session: Callable[[], aiohttp.ClientSession], timeout_seconds: float
    ) -> None:
        self._session = session
        self._signing = requests.Session()
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    async def __aenter__(self) -> AioHttpSender:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None  # the shared session outlives any one request

    def build_context(self) -> RequestsContext:
        return RequestsContext(session=self._signing)

    async def send(self, request: Request, **_config: Any) -> Response:
        http = request.http_request
        headers = {
            key: value
            for key, value in request.context.session.headers.items()
            if key.lower() not in ("accept-encoding", "connection", "user-agent")
        }
        headers.update(http.headers)
        try:
            raw = await self._session().request(
                http.method, http.url, headers=headers, data=http.data, timeout=self._timeout
            )
            response = AioHttpClientResponse(http, raw)
            await response.load_body()
        except (aiohttp.ClientError, TimeoutError) as exc:
            # What msrest's own sender raises for a request that got no answer.
            raise ClientRequestError(f"{type(exc).__name__}: {exc}") from exc
        return Response(request, response)


class TokenUnavailable(ClientRequestError):  # type: ignore[misc]
    """No token from Entra ID: MSAL failed or timed out, or the network did. Teams never saw
    the request, so it is transient (msrest's ClientRequestError: "no answer")."""


class OffLoopTokens:
    """The credentials' Authorization header, fetched off the event loop with a timeout.

    The SDK signs each request by calling MSAL synchronously (`signed_session`), with no timeout:
    on the event loop, a slow token service freezes every turn, send and leader check. Here the
    header is fetched on a worker thread (`asyncio.to_thread`), one fetch at a time however many
    requests wait for it, each waiter giving up after `timeout` seconds (`TokenUnavailable`), and
    reused for `reuse_seconds` (MSAL caches the token itself and renews it 5 minutes before it
    expires; this only saves the thread hop). A fetch still hung after three timeouts is
    abandoned and a new one started, so a stuck thread costs one thread, not one per request.
    """

    def __init__(
        self,
        credentials: Any,
        *,
        timeout: float = TOKEN_TIMEOUT_SECONDS,
        reuse_seconds: float = TOKEN_REUSE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials = credentials
        self._timeout = timeout
        self._reuse = reuse_seconds
        self._clock = clock
        self._header: str | None = None
        self._fetched_at: float | None = None
        self._pending: asyncio.Future[str | None] | None = None
        self._pending_since = 0.0

    def forget(self) -> None:
        """Teams refused the token (401): fetch a new one next time."""
        self._fetched_at = None

    async def authorization(self) -> str | None:
        now = self._clock()
        if self._fetched_at is not None and now - self._fetched_at < self._reuse:
            return self._header
        pending = self._pending
        stuck = pending is not None and now - self._pending_since > 3 * self._timeout
        if pending is None or stuck:
            pending = self._pending = asyncio.ensure_future(asyncio.to_thread(self._fetch))
            self._pending_since = now
            pending.add_done_callback(self._fetched)
        try:
            return await asyncio.wait_for(asyncio.shield(pending), self._timeout)
        except TimeoutError as exc:
            raise TokenUnavailable(f"no token within {self._timeout:g}s") from exc
        except TokenUnavailable:
            raise
        except Exception as exc:  # MSAL's PermissionError, requests' errors, anything
            raise TokenUnavailable(f"token fetch failed: {type(exc).__name__}: {exc}") from exc

    def _fetch(self) -> str | None:
        session = self._credentials.signed_session(requests.Session())
        header = session.headers.get("Authorization")
        return None if header is None else str(header)

    def _fetched(self, future: asyncio.Future[str | None]) -> None:
        if self._pending is future:
            self._pending = None
        if future.cancelled() or future.exception() is not None:
            return
        self._header, self._fetched_at = future.result(), self._clock()


class OffLoopCredentialsPolicy(AsyncHTTPPolicy):  # type: ignore[misc]
    """msrest's credentials step, with the token from `OffLoopTokens` (never on the loop)."""

    def __init__(self, tokens: OffLoopTokens) -> None:
        super().__init__()
        self.tokens = tokens

    async def send(self, request: Request, **kwargs: Any) -> Response:
        header = await self.tokens.authorization()
        if header:
            request.http_request.headers["Authorization"] = header
        response = await self.next.send(request, **kwargs)
        if getattr(response.http_response, "status_code", None) == 401:
            self.tokens.forget()
        return response


def use_aiohttp(
    client: ConnectorClient,
    session: Callable[[], aiohttp.ClientSession],
    *,
    token_timeout: float = TOKEN_TIMEOUT_SECONDS,
) -> None:
    """Rebuild the client's pipeline as msrest builds it by default, over `AioHttpSender`, with
    the token fetched off the event loop (`OffLoopTokens`)."""
    config = client.config
    policies: list[Any] = [config.user_agent_policy, RawDeserializer(), config.http_logger_policy]
    if config.credentials:
        tokens = OffLoopTokens(config.credentials, timeout=token_timeout)
        policies.insert(1, OffLoopCredentialsPolicy(tokens))
    config.pipeline = AsyncPipeline(
        policies, AioHttpSender(session, timeout_seconds=float(config.connection.timeout))
    )


class _CachingConnectorFactory(ConnectorFactory):  # type: ignore[misc]
    def __init__(
        self,
        inner: ConnectorFactory,
        app_id: str,
        cache: ClientCache,
        session: Callable[[], aiohttp.ClientSession],
        request_timeout: float,
    ) -> None:
        self._inner = inner
        self._app_id = app_id
        self._cache = cache
        self._session = session
        self._request_timeout = request_timeout

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        key = (self._app_id, service_url, audience or "")
        client = self._cache.get(key)
        if client is None:
            client = await self._inner.create(service_url, audience)
            # msrest's default (100 s) would hold a turn whose reply Teams accepted and never
            # answered: the request gives up after this and raises ClientRequestError.
            client.config.connection.timeout = self._request_timeout
            use_fast_json_objects(client)
            use_fast_activity_bodies(client)
            use_aiohttp(client, self._session)
            self._cache.put(key, client)
        return client


class ClientCache:
    """A bounded cache, least recently used out first."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._items: OrderedDict[tuple[str, ...], Any] = OrderedDict()

    def get(self, key: tuple[str, ...]) -> Any:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: tuple[str, ...], item: Any) -> None:
        self._items[key] = item
        self._items.move_to_end(key)
        while len(self._items) > self._limit:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class CachingBotFrameworkAuthentication(BotFrameworkAuthentication):  # type: ignore[misc]
    """Delegates everything to the SDK's authentication; reuses the clients it creates, each
    waiting at most `request_timeout` seconds for an answer (IMPACT_REPLY_TIMEOUT_SECONDS)."""

    def __init__(
        self,
        inner: BotFrameworkAuthentication,
        *,
        request_timeout: float,
        limit: int = MAX_CACHED_CLIENTS,
    ) -> None:
        self._inner = inner
        self.request_timeout = request_timeout
        self.connector_clients = ClientCache(limit)
        self.user_token_clients = ClientCache(limit)
        self._http: aiohttp.ClientSession | None = None

    def http_session(self) -> aiohttp.ClientSession:
        """One connection pool for every cached client, made on first use (inside the loop)."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100, ttl_dns_cache=300)
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    @staticmethod
    def _app_id(claims_identity: ClaimsIdentity | None) -> str:
        if claims_identity is None:
            return ""
        for claim in ("aud", "appid", "azp"):
            value = claims_identity.get_claim_value(claim)
            if value:
                return str(value)
        return ""

    def _wrap(self, factory: ConnectorFactory | None, app_id: str) -> ConnectorFactory | None:
        if factory is None:
            return None
        return _CachingConnectorFactory(
            factory, app_id, self.connector_clients, self.http_session, self.request_timeout
        )

    async def authenticate_request(
        self, activity: Any, auth_header: str
    ) -> AuthenticateRequestResult:
        try:
            result = await self._inner.authenticate_request(activity, auth_header)
        except (PermissionError, SigningKeysUnavailable):
            raise
        except Exception as exc:
            # The SDK lets PyJWT's errors (expired, bad signature, malformed), an unknown key id
            # (IndexError) and its own bare Exceptions (algorithm) escape: each is a refusal.
            raise PermissionError(f"token rejected: {type(exc).__name__}") from exc
        result.connector_factory = self._wrap(
            result.connector_factory, self._app_id(result.claims_identity)
        )
        return result

    async def authenticate_streaming_request(
        self, auth_header: str, channel_id_header: str
    ) -> AuthenticateRequestResult:
        result = await self._inner.authenticate_streaming_request(auth_header, channel_id_header)
        result.connector_factory = self._wrap(
            result.connector_factory, self._app_id(result.claims_identity)
        )
        return result

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return self._wrap(
            self._inner.create_connector_factory(claims_identity), self._app_id(claims_identity)
        )

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        key = (self._app_id(claims_identity),)
        client = self.user_token_clients.get(key)
        if client is None:
            client = await self._inner.create_user_token_client(claims_identity)
            self.user_token_clients.put(key, client)
        return client

    def create_bot_framework_client(self) -> Any:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return str(self._inner.get_originating_audience())

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)


def sdk_authentication(settings: Settings) -> BotFrameworkAuthentication:
    """The SDK's own authentication for these settings (token validation unless local mode)."""
    fetch_signing_keys_off_loop()
    return ConfigurationBotFrameworkAuthentication(
        _AuthConfiguration(
            APP_ID=settings.app_id,
            APP_PASSWORD=settings.app_password.get_secret_value(),
            APP_TYPE=settings.app_type.value,
            APP_TENANTID=settings.app_tenant_id,
        ),
        logger=log,
    )


def build_adapter(settings: Settings) -> CloudAdapter:
    return CloudAdapter(
        CachingBotFrameworkAuthentication(
            sdk_authentication(settings), request_timeout=settings.reply_timeout_seconds
        )
    )
