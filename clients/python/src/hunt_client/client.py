"""The asyncio client of the engine: batched publishes within the engine's in-flight window,
idempotent producers that re-send unacknowledged pubs after a reconnect (each event applied exactly
once), `get`, key and prefix subscriptions renewed after a reconnect (recovering missed updates from
the event log when it holds them), `replay` with `follow`, and reconnects with exponential backoff.
It follows the TypeScript client (src/client/hunt-client.ts) rule for rule.

Cluster mode: a key's reads are served by the host that applies its partition. `get`, key
subscriptions and paged replays refused with NOT_OWNER go to the host it names (the client opens a
connection there, with the same options, and keeps it); a key subscription whose partition moves
(`moved`) and a follow ended by NOT_OWNER go on at the new owner. A prefix spans every host's
partitions: a prefix subscription is made at each host that applies partitions (the ack names
them) and at each host `moved` names later.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import logging
import time
import math
import random
import urllib.parse
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping, Sequence, TypeVar, Union

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.typing import Subprotocol

from .codec import SUBPROTOCOLS, Encoding, decode, encode
from .errors import HuntError

log = logging.getLogger("hunt_client")

Event = Mapping[str, Any]
UpdateHandler = Callable[["Update"], Union[None, Awaitable[None]]]
#: Gives a current token: called for every connection, and before a JWT's `exp` to refresh it.
TokenProvider = Callable[[], Union[str, Awaitable[str]]]

#: The engine closes a producer's older connection with this code when the name says hello again.
FENCED_CLOSE_CODE = 4001
#: A token is refreshed when this share of its remaining lifetime is left, at most a minute before exp.
REFRESH_SHARE = 0.2
MAX_REFRESH_LEAD_S = 60.0
#: After a failed refresh, the next try comes this much later (the engine closes the connection at exp).
REFRESH_RETRY_S = 1.0
#: Integers the engine takes exactly (a number beyond is refused).
MAX_SAFE_INTEGER = 2**53 - 1
#: Largest frame the client accepts from the engine (replay pages stop near 256 KiB).
MAX_FRAME_BYTES = 64 * 1024 * 1024
#: Bytes of a pub frame besides its events (op, id, seq, the array header), with room to spare.
PUB_ENVELOPE_BYTES = 64
#: NOT_OWNER answers followed for one read at most (hosts can disagree for a moment during a rebalance).
MAX_OWNER_HOPS = 20
#: Wait before asking again when no host applies the partition (a rebalance).
REBALANCE_RETRY_S = 0.25

T = TypeVar("T")
Unsubscribe = Callable[[], Awaitable[None]]


async def _nothing() -> None:
    pass


@dataclass(frozen=True)
class PublishResult:
    #: The pub was a re-send the engine had already applied.
    dup: bool


@dataclass(frozen=True)
class Update:
    key: str
    meta: dict[str, Any]


@dataclass
class _Waiter:
    future: asyncio.Future[PublishResult]
    #: How many of the batch's events are this publish's (they follow the previous waiter's).
    events: int


@dataclass
class _Batch:
    id: int = 0
    #: Given when the pub is first sent (0 until then), so pubs go out in seq order whatever is retried.
    seq: int = 0
    #: It was in flight when a connection dropped: it may have been applied, so only its own seq may carry it.
    uncertain: bool = False
    events: list[Event] = field(default_factory=list)
    #: Encoded size of the events, for the engine's frame limit.
    bytes: int = 0
    waiters: list[_Waiter] = field(default_factory=list)


@dataclass(eq=False)
class _PrefixSpread:
    """A prefix subscription in cluster mode and the hosts (base URLs) it is made at; the client it was made on spreads it."""

    client: "HuntClient"
    hosts: set[str] = field(default_factory=set)
    #: Its copies on the other hosts, each as the function that ends it.
    copies: list[Unsubscribe] = field(default_factory=list)
    ended: bool = False


@dataclass(eq=False)
class _Subscription:
    key_or_prefix: str
    prefix: bool
    on_update: UpdateHandler
    #: Exact keys: the last version seen, for recovery after a reconnect.
    version: int | None = None
    #: Ends it wherever it is now (here, or at the host its key's partition moved to).
    end: Unsubscribe = _nothing
    #: Prefix subscriptions in cluster mode: the hosts it is made at (shared by its copies on each).
    spread: _PrefixSpread | None = None


def _shape_problem(event: Any) -> str | None:
    """What makes an event malformed whatever the engine's settings (caught before batching it with others)."""
    if not isinstance(event, Mapping):
        return "an event must be a mapping"
    key, kind, ts, data = event.get("key"), event.get("type"), event.get("ts"), event.get("data")
    if not isinstance(key, str) or key == "":
        return "key must be a non-empty string"
    if not isinstance(kind, str) or kind == "":
        return "type must be a non-empty string"
    if ts is not None:
        if isinstance(ts, bool) or not isinstance(ts, (int, float)):
            return "ts must be a number"
        if isinstance(ts, float) and not math.isfinite(ts):
            return "ts must be finite"
        if isinstance(ts, int) and abs(ts) > MAX_SAFE_INTEGER:
            return "ts must be within ±(2^53−1)"
    if data is not None and not isinstance(data, Mapping):
        return "data must be a mapping"
    return None


class TokenProviderError(Exception):
    """The token provider raised (the cause): the connection attempt fails and is retried."""


def jwt_expiry(token: str) -> float | None:
    """A JWT's `exp` in seconds since the epoch; None when the token is not a JWT or has none."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    return float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None


class HuntClient:
    """Connect with `await HuntClient.connect(url, ...)`; close with `await client.close()` (or `async with`)."""

    def __init__(
        self,
        url: str,
        *,
        token: str | TokenProvider | None = None,
        encoding: Encoding = "msgpack",
        producer: str | None = None,
        linger: float = 0.002,
        max_batch_events: int = 1000,
        reconnect: bool = True,
        backoff: tuple[float, float] = (0.1, 5.0),
    ) -> None:
        """
        url: ws:// or wss:// URL of the stream endpoint, e.g. ws://127.0.0.1:9001/v1/stream.
        token: bearer token (sent in the Authorization header), or a provider of one (a function,
            plain or async). With a provider, the client asks it for a token on every (re)connection
            and, when that token is a JWT, again before its `exp`, and hands the new one to the
            engine (`auth`) on the open connection, so subscriptions and pubs in flight carry on.
        producer: idempotent producer name. With it every pub carries a seq and the pubs not yet
            acknowledged when a connection drops are sent again, with their seqs, on the next one:
            each event applies exactly once. Without it, pubs in flight when a connection drops
            fail with DISCONNECTED.
        linger: seconds publish() waits for more events before sending a pub.
        max_batch_events: events per pub at most (never more than the engine's maxEventsPerPub).
        backoff: (initial, max) seconds between connection attempts, doubling, ±50% jitter.
        """
        if encoding not in SUBPROTOCOLS:
            raise ValueError(f"encoding must be 'msgpack' or 'json', not {encoding!r}")
        self._url = url
        #: What a connection to another host (cluster mode) is opened with: these options, no producer.
        self._options: dict[str, Any] = {"token": token, "encoding": encoding, "linger": linger, "max_batch_events": max_batch_events, "reconnect": reconnect, "backoff": backoff}
        #: Cluster mode: connections to the other hosts, by base URL (one map for the client and its connections).
        self._hosts: dict[str, asyncio.Task[HuntClient]] = {}
        #: The client the user made, which closes the connections to the other hosts with it.
        self._root = True
        self._token = token
        self._encoding: Encoding = encoding
        self._producer = producer
        self._linger = linger
        self._max_batch_events = max_batch_events
        self._reconnect = reconnect
        self._backoff = backoff
        self._ws: ClientConnection | None = None
        self._outbox: asyncio.Queue[bytes | str] | None = None
        self._welcome: dict[str, Any] | None = None
        self._next_id = 1
        self._next_seq = 1
        self._closed = False
        self._forming: _Batch | None = None
        self._linger_handle: asyncio.TimerHandle | None = None
        #: Pubs formed and not yet sent (no connection, or the window is full), in seq order.
        self._queued: deque[_Batch] = deque()
        self._in_flight: dict[int, _Batch] = {}
        self._requests: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._subscriptions: list[_Subscription] = []
        self._follows: dict[int, ReplayStream] = {}
        self._ready = asyncio.Event()
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Refreshes the connection's token before it expires (with a token provider and a JWT).
        self._refresher: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, url: str, **options: Any) -> "HuntClient":
        """Connects (and says hello as the producer, if any); raises HuntError if the first attempt fails."""
        return await cls(url, **options)._start()

    async def _start(self) -> "HuntClient":
        first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._runner = asyncio.create_task(self._run(first))
        try:
            await first
        except BaseException:
            await self.close()
            raise
        return self

    async def __aenter__(self) -> "HuntClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def limits(self) -> dict[str, Any] | None:
        """The engine's welcome: partitions, durability and limits."""
        return self._welcome

    # ---- publishing ----

    async def publish(self, events: Event | Sequence[Event]) -> PublishResult:
        """Publishes events; returns once the engine acknowledged the pub that carried them. A pub
        holds at most `max_batch_events` events and fits the engine's `maxPayloadBytes`: a larger
        publish is split, and an event too large for any frame is refused (TOO_LARGE) before sending."""
        if self._closed:
            raise HuntError("CLOSED", "the client is closed")
        batch = [events] if isinstance(events, Mapping) else list(events)
        for i, event in enumerate(batch):
            problem = _shape_problem(event)
            if problem is not None:
                raise HuntError("BAD_EVENT", f"events[{i}]: {problem}", i)
        most = self._most_per_pub()
        limit = self._welcome.get("maxPayloadBytes") if self._welcome else None
        budget = limit - PUB_ENVELOPE_BYTES if isinstance(limit, int) else math.inf
        sizes = [len(encode(event, self._encoding)) for event in batch]
        for i, size in enumerate(sizes):
            if size > budget:
                raise HuntError("TOO_LARGE", f"events[{i}] is {size} bytes encoded; the engine takes pubs of at most {limit} bytes (maxPayloadBytes)", i)
        parts = _split_pub(sizes, most, budget)
        if len(parts) > 1:
            results = await asyncio.gather(*(self._publish_part(batch[a:b], sum(sizes[a:b]), most, budget) for a, b in parts))
            return PublishResult(dup=all(result.dup for result in results))
        return await self._publish_part(batch, sum(sizes), most, budget)

    async def _publish_part(self, events: list[Event], size: int, most: int, budget: float) -> PublishResult:
        """Adds events that fit one pub to the pub being formed (forming it first if they do not fit)."""
        future: asyncio.Future[PublishResult] = asyncio.get_running_loop().create_future()
        if self._forming is not None and (len(self._forming.events) + len(events) > most or self._forming.bytes + size > budget):
            self._form_batch()
        if self._forming is None:
            self._forming = _Batch()
        self._forming.events.extend(events)
        self._forming.bytes += size
        self._forming.waiters.append(_Waiter(future, len(events)))
        if len(self._forming.events) >= most:
            self._form_batch()
        elif self._linger_handle is None:
            self._linger_handle = asyncio.get_running_loop().call_later(self._linger, self._form_batch)
        return await future

    async def flush(self) -> None:
        """Returns when every event published so far is acknowledged (or failed)."""
        self._form_batch()
        if not self._queued and not self._in_flight:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._idle_waiters.append(waiter)
        await waiter

    # ---- reading ----

    async def get(self, key: str) -> dict[str, Any] | None:
        """A key's metadata record, or None if the key has none (asked of the host that applies it)."""
        reply = await self._following_owners(lambda client: client._request({"op": "get", "key": key}))
        meta: dict[str, Any] | None = reply["meta"]
        return meta

    async def subscribe(self, key_or_prefix: str, on_update: UpdateHandler, *, prefix: bool = False) -> Unsubscribe:
        """Calls `on_update` with each committed change of a key (starting with its current record),
        or of every key that starts with a prefix. Returns a coroutine function that ends it."""
        subscription = _Subscription(key_or_prefix, prefix, on_update)
        if prefix:
            spread = subscription.spread = _PrefixSpread(self)
            end_here = await self._subscribe_here(subscription)

            async def end_everywhere() -> None:
                spread.ended = True
                await asyncio.gather(end_here(), *(end() for end in spread.copies))

            subscription.end = end_everywhere
        else:
            # Where another host applies the key, the subscription is made there (and follows it on from there).
            subscription.end = await self._following_owners(
                lambda client: self._subscribe_here(subscription) if client is self else client.subscribe(key_or_prefix, on_update)
            )

        async def unsubscribe() -> None:
            await subscription.end()

        return unsubscribe

    def replay(self, *, partition: int | None = None, key: str | None = None, start: int = 0, limit: int = 100, follow: bool = False) -> "ReplayStream":
        """The events of a partition's log (or one key's, `key`) from offset `start`, as an async
        iterator of event dicts. Without `follow` it ends at the end of the log; with it, it goes on
        with each newly committed event, across reconnects (resuming at the last `next`), until
        closed (`await stream.aclose()` or `async with`). Needs the engine's event log."""
        if (partition is None) == (key is None):
            raise ValueError("give exactly one of partition and key")
        return ReplayStream(self, partition, key, start, limit, follow)

    # ---- cluster mode: the hosts that apply the keys ----

    async def _following_owners(self, read: Callable[["HuntClient"], Awaitable[T]]) -> T:
        """Runs a read here; if it is refused with NOT_OWNER, at the host named (or here again after a rebalance)."""
        client = self
        hops = 0
        while True:
            try:
                return await read(client)
            except HuntError as error:
                if error.code != "NOT_OWNER" or hops >= MAX_OWNER_HOPS:
                    raise
                hops += 1
                if error.owner is None:
                    await asyncio.sleep(REBALANCE_RETRY_S)
                else:
                    client = await self._host(error.owner)

    async def _host(self, owner: str) -> "HuntClient":
        """The connection to the host at `owner` (a base URL), opened on first use."""
        if self._closed:
            raise HuntError("CLOSED", "the client is closed")
        host = self._hosts.get(owner)
        if host is None:
            parts = urllib.parse.urlsplit(urllib.parse.urljoin(owner, "/v1/stream"))
            client = HuntClient(parts._replace(scheme="wss" if parts.scheme == "https" else "ws").geturl(), **self._options)
            client._hosts = self._hosts
            client._root = False
            host = self._hosts[owner] = asyncio.ensure_future(client._start())

            def forget_failed(task: asyncio.Task[HuntClient]) -> None:
                if (task.cancelled() or task.exception() is not None) and self._hosts.get(owner) is task:
                    del self._hosts[owner]

            host.add_done_callback(forget_failed)
        # Shielded: a caller that gives up must not cancel the connection other callers share.
        return await asyncio.shield(host)

    async def _subscribe_here(self, subscription: _Subscription) -> Unsubscribe:
        self._subscriptions.append(subscription)
        try:
            self._subscribed(subscription, await self._request(self._sub_message(subscription)))
        except BaseException:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)
            raise

        async def unsubscribe() -> None:
            await self._unsubscribe(subscription)

        return unsubscribe

    def _subscribed(self, subscription: _Subscription, ack: dict[str, Any]) -> None:
        """A sub's ack: in cluster mode, a prefix subscription spreads to the hosts it names."""
        host, hosts = ack.get("host"), ack.get("hosts")
        if subscription.spread is not None and isinstance(host, str) and isinstance(hosts, list):
            subscription.spread.client._spread_to(subscription, [host, *hosts])

    def _spread_to(self, subscription: _Subscription, hosts: list[str]) -> None:
        """Makes the prefix subscription at each of `hosts` it is not made at yet (retried until it takes, or is ended)."""
        spread = subscription.spread
        assert spread is not None
        # The first host named is the one answering: for the subscription made here, this client's.
        for host in hosts:
            if host in spread.hosts:
                continue
            spread.hosts.add(host)
            if len(spread.hosts) > 1:
                self._spawn(self._copy_to(subscription, host))

    async def _copy_to(self, subscription: _Subscription, host: str) -> None:
        spread = subscription.spread
        assert spread is not None
        attempt = 0
        while not self._closed and not spread.ended:
            try:
                end = await (await self._host(host))._subscribe_here(replace(subscription, end=_nothing))
            except HuntError:
                await asyncio.sleep(self._backoff_delay(attempt))
                attempt += 1
                continue
            if spread.ended:
                await self._quietly(end())
            else:
                spread.copies.append(end)
            return

    async def _unsubscribe(self, subscription: _Subscription) -> None:
        if subscription not in self._subscriptions:
            return
        self._subscriptions.remove(subscription)
        if not any(s.prefix == subscription.prefix and s.key_or_prefix == subscription.key_or_prefix for s in self._subscriptions):
            await self._request({"op": "unsub", ("prefixes" if subscription.prefix else "keys"): [subscription.key_or_prefix]})

    async def _move(self, subscription: _Subscription, owner: str) -> None:
        """The key's partition went to the host at `owner`: the subscription goes on there (retried until it takes, or is ended)."""
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
        ended = False

        async def end_while_moving() -> None:
            nonlocal ended
            ended = True

        subscription.end = end_while_moving
        attempt = 0
        while not self._closed and not ended:
            try:
                end = await (await self._host(owner)).subscribe(subscription.key_or_prefix, subscription.on_update)
            except HuntError:
                await asyncio.sleep(self._backoff_delay(attempt))
                attempt += 1
                continue
            if ended or self._closed:
                await self._quietly(end())
            else:
                subscription.end = end
            return

    async def _follow_owner(self, stream: "ReplayStream", owner: str | None) -> None:
        """A follow whose partition went to another host goes on at that host from its position: the
        owner re-applies from the changelog's position, giving the same offsets, so nothing is
        skipped or repeated (a follow that lags behind that position gets OUT_OF_RANGE there). Each
        move waits a moment first, so hosts that disagree for a moment are not asked in a loop."""
        await asyncio.sleep(REBALANCE_RETRY_S)
        try:
            stream._client = self if owner is None else await self._host(owner)
        except HuntError as error:
            stream._end(error)
            return
        stream._resume()

    async def _resubscribe(self, subscription: _Subscription) -> None:
        """Renews a subscription on a new connection."""
        try:
            self._subscribed(subscription, await self._request(self._sub_message(subscription), now=True))
        except HuntError as error:
            # Its key's partition went to another host while this client was away. Any other
            # failure: a renewal lost with its connection is sent again on the next one.
            if error.code == "NOT_OWNER" and error.owner is not None:
                await self._move(subscription, error.owner)

    # ---- closing ----

    async def close(self) -> None:
        """Closes the connection; pubs not yet acknowledged fail with CLOSED."""
        if self._closed:
            return
        self._closed = True
        self._fail_all(HuntError("CLOSED", "the client was closed before the engine acknowledged this"), queued_too=True)
        self._fail_requests(HuntError("CLOSED", "the client is closed"))
        for stream in list(self._follows.values()):
            stream._end(HuntError("CLOSED", "the client is closed"))
        if self._root:
            hosts = list(self._hosts.values())
            self._hosts.clear()
            for host in hosts:
                host.cancel()  # one still connecting closes itself
                if host.done() and not host.cancelled() and host.exception() is None:
                    await host.result().close()
        ws = self._ws
        if ws is not None:
            await ws.close(1000, "client closed")
        if self._runner is not None and self._runner is not asyncio.current_task():
            try:
                await self._runner
            except Exception:  # noqa: BLE001 — the connection loop's last failure no longer matters
                pass

    # ---- the connection ----

    async def _run(self, first: asyncio.Future[None]) -> None:
        """Connects, reads until the connection ends, and reconnects with backoff, until closed."""
        attempt = 0
        while not self._closed:
            failure = ""
            code, reason = 1006, ""
            try:
                url = self._url
                token = await self._current_token()
                headers = {} if token is None else {"Authorization": f"Bearer {token}"}
                async with connect(url, subprotocols=[Subprotocol(SUBPROTOCOLS[self._encoding])], additional_headers=headers, max_size=MAX_FRAME_BYTES, open_timeout=10) as ws:
                    welcome = decode(await ws.recv())
                    if welcome.get("op") != "welcome":
                        raise HuntError("INTERNAL", f"expected the welcome, got {welcome!r}")
                    self._on_open(ws, welcome, first)
                    if token is not None and callable(self._token):
                        self._refresher = asyncio.ensure_future(self._keep_token_fresh(ws, token))
                    attempt = 0
                    try:
                        async for frame in ws:
                            self._on_message(decode(frame))
                    except ConnectionClosed:
                        pass
                    code = ws.close_code if ws.close_code is not None else 1006
                    reason = ws.close_reason or ""
            except InvalidStatus as error:
                failure = f"upgrade refused with HTTP {error.response.status_code}"
            except (OSError, WebSocketException, asyncio.TimeoutError, HuntError) as error:
                failure = str(error) or type(error).__name__
            except TokenProviderError as error:
                failure = f"the token provider failed: {error.__cause__!r}"
            except Exception as error:  # noqa: BLE001 — a bug here must not end the client silently
                log.exception("hunt client: unexpected failure on the connection")
                failure = repr(error)
            self._on_close(code, reason)
            if not first.done():
                first.set_exception(HuntError("DISCONNECTED", f"cannot connect to {self._url}: {failure or f'closed before the welcome ({code})'}"))
                return
            if self._closed or not self._reconnect:
                return
            await asyncio.sleep(self._backoff_delay(attempt))
            attempt += 1

    async def _current_token(self) -> str | None:
        if not callable(self._token):
            return self._token
        try:
            value = self._token()
            return await value if inspect.isawaitable(value) else value
        except Exception as error:  # noqa: BLE001 — whatever the provider raises, the connection attempt fails and is retried
            raise TokenProviderError() from error

    async def _keep_token_fresh(self, ws: ClientConnection, token: str) -> None:
        """While `ws` is this client's connection: a new token from the provider, sent as `auth`, before each one's exp."""
        expires_at = jwt_expiry(token)
        while expires_at is not None and self._ws is ws:
            deadline = expires_at
            left = deadline - time.time()
            await asyncio.sleep(max(0.0, left - min(MAX_REFRESH_LEAD_S, left * REFRESH_SHARE)))
            while self._ws is ws:
                try:
                    token = (await self._current_token()) or ""
                    await self._request({"op": "auth", "token": token}, now=True)
                    expires_at = jwt_expiry(token)
                    break
                except (HuntError, TokenProviderError):
                    # The engine closes the connection at exp if no refresh got through; the
                    # reconnect asks the provider again. Until then, keep trying.
                    if time.time() >= deadline:
                        return
                    await asyncio.sleep(REFRESH_RETRY_S)

    def _on_open(self, ws: ClientConnection, welcome: dict[str, Any], first: asyncio.Future[None]) -> None:
        self._ws = ws
        self._welcome = welcome
        outbox: asyncio.Queue[bytes | str] = asyncio.Queue()
        self._outbox = outbox
        self._spawn(self._send_loop(ws, outbox))
        self._spawn(self._after_welcome(first))

    async def _after_welcome(self, first: asyncio.Future[None]) -> None:
        try:
            if self._producer is not None:
                ack = await self._request({"op": "hello", "producer": self._producer}, now=True)
                # Pubs of this client keep their seqs (re-sends); new ones go above what the engine has taken.
                self._next_seq = max(self._next_seq, int(ack["seq"]) + 1)
            for subscription in list(self._subscriptions):
                self._spawn(self._resubscribe(subscription))
            for stream in list(self._follows.values()):
                stream._resume()
        except HuntError as error:
            if not first.done():
                first.set_exception(error)
            return
        self._ready.set()
        if not first.done():
            first.set_result(None)
        self._pump()

    async def _send_loop(self, ws: ClientConnection, outbox: asyncio.Queue[bytes | str]) -> None:
        """Sends this connection's frames in order (one writer, so pubs go out in seq order)."""
        try:
            while True:
                await ws.send(await outbox.get())
        except (ConnectionClosed, asyncio.CancelledError):
            pass

    def _on_close(self, code: int, reason: str) -> None:
        self._ws = None
        if self._refresher is not None:
            self._refresher.cancel()
            self._refresher = None
        self._outbox = None
        self._ready.clear()
        if code == FENCED_CLOSE_CODE:
            # Another connection speaks for this producer now; reconnecting would fence it in turn.
            self._closed = True
            fenced = HuntError("FENCED", f"producer {self._producer} connected elsewhere: {reason}")
            self._fail_all(fenced, queued_too=True)
            self._fail_requests(fenced)
            for stream in list(self._follows.values()):
                stream._end(fenced)
            return
        lost = HuntError("DISCONNECTED", f"connection lost ({code} {reason}) before the engine acknowledged this")
        self._fail_requests(lost)
        if self._producer is not None:
            # Unacknowledged pubs go again, with their seqs and in seq order, on the next connection;
            # the pubs never sent follow, in their order.
            for batch in self._in_flight.values():
                batch.uncertain = True
            numbered = sorted([*self._in_flight.values(), *(b for b in self._queued if b.seq != 0)], key=lambda batch: batch.seq)
            unnumbered = [b for b in self._queued if b.seq == 0]
            self._in_flight.clear()
            self._queued = deque([*numbered, *unnumbered])
        else:
            self._fail_all(lost, queued_too=False)
        if self._closed or not self._reconnect:
            self._fail_all(HuntError("CLOSED", "the client is closed") if self._closed else lost, queued_too=True)
            for stream in list(self._follows.values()):
                stream._end(lost)

    # ---- messages ----

    def _on_message(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "update":
            for subscription in list(self._subscriptions):
                key = message["key"]
                if key.startswith(subscription.key_or_prefix) if subscription.prefix else key == subscription.key_or_prefix:
                    if not subscription.prefix:
                        subscription.version = message["meta"]["version"]
                    self._deliver(subscription, Update(key, message["meta"]))
            return
        if op == "moved":
            keys, prefixes, owner = set(message["keys"]), set(message.get("prefixes") or ()), message["owner"]
            for subscription in list(self._subscriptions):
                if not subscription.prefix and subscription.key_or_prefix in keys:
                    self._spawn(self._move(subscription, owner))
                # Some of the prefix's partitions are at that host now: the prefix is subscribed there too.
                if subscription.spread is not None and subscription.key_or_prefix in prefixes:
                    subscription.spread.client._spread_to(subscription, [owner])
            return
        ident = message.get("id")
        if op == "events" and ident in self._follows:
            self._follows[ident]._on_events(message)
            return
        if op in ("ack", "error") and ident in self._in_flight:
            self._settle(self._in_flight.pop(ident), message)
            return
        if op == "error" and ident in self._follows:
            stream = self._follows.pop(ident)
            if message["code"] == "NOT_OWNER":
                # `next`: the engine's position of the follow, past the other keys' entries too.
                if isinstance(message.get("next"), int) and stream.next is not None:
                    stream.next = max(stream.next, message["next"])
                self._spawn(self._follow_owner(stream, message.get("owner")))
            else:
                stream._end(HuntError(message["code"], message["message"]))  # e.g. OUT_OF_RANGE: overtaken by the retention
            return
        if op in ("ack", "error", "meta", "events") and ident in self._requests:
            future = self._requests.pop(ident)
            if future.done():
                return
            if op == "error":
                future.set_exception(HuntError(message["code"], message["message"], message.get("index"), message.get("owner")))
            else:
                future.set_result(message)
        # missed and lagging need nothing here: the snapshot update after a recovery, and the
        # resubscription after a lagging close, bring the subscriber up to date.

    def _deliver(self, subscription: _Subscription, update: Update) -> None:
        try:
            result = subscription.on_update(update)
            if inspect.isawaitable(result):
                self._spawn(self._quietly(result))
        except Exception:  # noqa: BLE001 — one subscriber's bug must not stop the others
            log.exception("subscription handler failed for %s", update.key)

    def _settle(self, batch: _Batch, message: dict[str, Any]) -> None:
        if message["op"] == "ack":
            for waiter in batch.waiters:
                _resolve(waiter.future, PublishResult(dup=message.get("dup") is True))
        elif message["code"] in ("OVERLOADED", "SHUTTING_DOWN"):
            # Not applied: send it again later, before the pubs formed after it. Its seq was not
            # taken, but this connection may have taken higher ones since, so it goes out with a
            # fresh seq - unless an earlier connection may have applied it: then only its own seq is
            # safe, and only on a new connection (where re-sends start over in seq order).
            self._queued.appendleft(batch)
            if not batch.uncertain:
                batch.seq = 0
            elif self._producer is not None and self._ws is not None:
                self._spawn(self._ws.close(1000, "retrying a re-sent pub on a new connection"))
            asyncio.get_running_loop().call_later(self._backoff[0] * (0.5 + random.random()), self._pump)
        elif isinstance(message.get("index"), int) and len(batch.waiters) > 1:
            self._drop_invalid(batch, message["index"], HuntError(message["code"], message["message"]))
        else:
            error = HuntError(message["code"], message["message"], message.get("index"))
            for waiter in batch.waiters:
                _reject(waiter.future, error)
        self._pump()

    def _drop_invalid(self, batch: _Batch, index: int, error: HuntError) -> None:
        """A pub was refused for one event (`index`), so nothing of it was applied: that event's
        publish fails, and the others batched with it go again as a new pub with a new seq."""
        rest = _Batch(bytes=batch.bytes)
        first = 0
        for waiter in batch.waiters:
            if first <= index < first + waiter.events:
                _reject(waiter.future, HuntError(error.code, error.message, index - first))
            else:
                rest.events.extend(batch.events[first : first + waiter.events])
                rest.waiters.append(waiter)
            first += waiter.events
        if rest.events:
            self._queued.append(rest)

    # ---- sending ----

    def _pump(self) -> None:
        """Sends queued pubs while the connection is up and the window has room."""
        window = self._welcome["maxInFlight"] if self._welcome else 0
        while self._outbox is not None and self._ready.is_set() and self._queued and len(self._in_flight) < window:
            batch = self._queued.popleft()
            batch.id = self._take_id()
            if batch.seq == 0:
                batch.seq = self._take_seq()
            self._in_flight[batch.id] = batch
            message: dict[str, Any] = {"op": "pub", "id": batch.id, "events": batch.events}
            if self._producer is not None:
                message["seq"] = batch.seq
            self._outbox.put_nowait(encode(message, self._encoding))
        if not self._queued and not self._in_flight:
            for waiter in self._idle_waiters:
                _resolve(waiter, None)
            self._idle_waiters.clear()

    def _form_batch(self) -> None:
        if self._linger_handle is not None:
            self._linger_handle.cancel()
            self._linger_handle = None
        batch = self._forming
        if batch is None:
            return
        self._forming = None
        self._queued.append(batch)
        self._pump()

    async def _request(self, message: dict[str, Any], now: bool = False) -> dict[str, Any]:
        """Sends a request and returns its reply; waits for a connection unless `now`."""
        if self._closed:
            raise HuntError("CLOSED", "the client is closed")
        if not now:
            if self._outbox is None and not self._reconnect:
                raise HuntError("DISCONNECTED", "not connected, and reconnect is off")
            await self._ready.wait()
        if self._closed:
            raise HuntError("CLOSED", "the client is closed")
        outbox = self._outbox
        if outbox is None:
            raise HuntError("DISCONNECTED", "not connected")
        ident = self._take_id()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._requests[ident] = future
        outbox.put_nowait(encode({**message, "id": ident}, self._encoding))
        return await future

    def _send(self, message: dict[str, Any]) -> bool:
        """Sends a message that expects no reply of its own; False when not connected."""
        if self._outbox is None:
            return False
        self._outbox.put_nowait(encode(message, self._encoding))
        return True

    # ---- helpers ----

    def _backoff_delay(self, attempt: int) -> float:
        """Seconds before retry `attempt` (from 0): doubling from the initial backoff up to its most, ±50% jitter."""
        initial, most = self._backoff
        return min(most, initial * 2.0 ** min(attempt, 20)) * (0.5 + random.random())

    def _most_per_pub(self) -> int:
        limit = self._welcome.get("maxEventsPerPub") if self._welcome else None
        return min(self._max_batch_events, limit) if isinstance(limit, int) else self._max_batch_events

    def _take_id(self) -> int:
        ident = self._next_id
        self._next_id += 1
        return ident

    def _take_seq(self) -> int:
        seq = self._next_seq
        self._next_seq += 1
        return seq

    def _sub_message(self, subscription: _Subscription) -> dict[str, Any]:
        if subscription.prefix:
            return {"op": "sub", "prefixes": [subscription.key_or_prefix]}
        if subscription.version is None:
            return {"op": "sub", "keys": [subscription.key_or_prefix]}
        return {"op": "sub", "keys": [subscription.key_or_prefix], "from": subscription.version}

    def _fail_all(self, error: HuntError, queued_too: bool) -> None:
        for batch in self._in_flight.values():
            for waiter in batch.waiters:
                _reject(waiter.future, error)
        self._in_flight.clear()
        if queued_too:
            if self._forming is not None:
                self._queued.append(self._forming)
                self._forming = None
            for batch in self._queued:
                for waiter in batch.waiters:
                    _reject(waiter.future, error)
            self._queued.clear()
            for idle in self._idle_waiters:
                _resolve(idle, None)
            self._idle_waiters.clear()

    def _fail_requests(self, error: HuntError) -> None:
        for future in self._requests.values():
            _reject(future, error)
        self._requests.clear()

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _quietly(awaitable: Awaitable[Any]) -> None:
        try:
            await awaitable
        except HuntError:
            pass  # a renewal lost with its connection is sent again on the next one
        except Exception:  # noqa: BLE001
            log.exception("subscription handler failed")


class ReplayStream:
    """The events of a `replay`, as an async iterator; with `follow`, endless until closed."""

    def __init__(self, client: HuntClient, partition: int | None, key: str | None, start: int, limit: int, follow: bool) -> None:
        #: The client it runs on: another host's once a followed partition moved there.
        self._client = client
        self._partition = partition
        self._key = key
        #: Where the next page or the resumed follow starts.
        self.next: int | None = start
        self._limit = limit
        self._follow = follow
        self._events: deque[dict[str, Any]] = deque()
        self._arrived = asyncio.Event()
        self._failure: HuntError | None = None
        self._follow_id: int | None = None
        self._started = False
        self._closed = False

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self

    async def __aenter__(self) -> "ReplayStream":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def __anext__(self) -> dict[str, Any]:
        if not self._follow:
            return await self._next_paged()
        if not self._started:
            if self._client._outbox is None and not self._client._reconnect:
                raise HuntError("DISCONNECTED", "not connected, and reconnect is off")
            self._started = True
            await self._client._ready.wait()
            self._resume()
        while not self._events:
            if self._failure is not None:
                raise self._failure
            if self._closed:
                raise StopAsyncIteration
            self._arrived.clear()
            await self._arrived.wait()
        return self._events.popleft()

    async def aclose(self) -> None:
        """Ends a follow (unfollow on the engine)."""
        if self._closed:
            return
        self._closed = True
        ident = self._follow_id
        if ident is not None and self._client._follows.pop(ident, None) is not None and not self._client._closed:
            try:
                await self._client._request({"op": "unfollow", "replay": ident}, now=True)
            except HuntError:
                pass  # the connection went: the follow ended with it
        self._arrived.set()

    async def _next_paged(self) -> dict[str, Any]:
        while not self._events:
            if self.next is None or self._closed:
                raise StopAsyncIteration
            page = await self._client._following_owners(lambda client: client._request(self._message(follow=False)))
            self._events.extend(page["events"])
            self.next = page["next"]
        return self._events.popleft()

    def _message(self, follow: bool) -> dict[str, Any]:
        message: dict[str, Any] = {"op": "replay", "from": self.next, "limit": self._limit}
        if self._key is not None:
            message["key"] = self._key
        else:
            message["partition"] = self._partition
        if follow:
            message["follow"] = True
        return message

    def _resume(self) -> None:
        """(Re)starts the follow on its client's connection from the last `next` (without one, the
        next connection's welcome starts it)."""
        client = self._client
        if self._closed or not self._started or self._failure is not None:
            return
        if self._follow_id is not None:
            client._follows.pop(self._follow_id, None)
        self._follow_id = client._take_id()
        client._follows[self._follow_id] = self
        client._send({**self._message(follow=True), "id": self._follow_id})

    def _on_events(self, message: dict[str, Any]) -> None:
        self._events.extend(message["events"])
        self.next = message["next"]
        self._arrived.set()

    def _end(self, error: HuntError) -> None:
        self._failure = error
        self._arrived.set()


def _split_pub(sizes: list[int], most: int, budget: float) -> list[tuple[int, int]]:
    """(start, end) ranges of events that each fit one pub: at most `most` events and `budget` bytes."""
    parts: list[tuple[int, int]] = []
    start, size = 0, 0
    for i, event_size in enumerate(sizes):
        if i > start and (i - start == most or size + event_size > budget):
            parts.append((start, i))
            start, size = i, 0
        size += event_size
    parts.append((start, len(sizes)))
    return parts


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _reject(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
