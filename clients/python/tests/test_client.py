"""The client against real engine processes: batching within the window, get, subscriptions,
replay with follow, errors with their codes, fencing, and exactly-once effects for an idempotent
producer across two SIGKILLs of the engine under load (exact counts)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any, Callable

import pytest

from conftest import Engine, Engines, until
from hunt_client import HuntClient, HuntError, Update

FAST_BACKOFF = (0.02, 0.2)


@pytest.mark.parametrize("encoding", ["msgpack", "json"])
async def test_publish_get_subscribe(engines: Engines, encoding: str) -> None:
    engine = engines.start({"HUNT_DURABILITY": "async"})
    async with await HuntClient.connect(engine.url, encoding=encoding, linger=0.005, max_batch_events=500) as client:
        assert client.limits is not None and client.limits["maxInFlight"] == 256
        seen: list[Update] = []
        prefix_seen: list[Update] = []
        unsubscribe = await client.subscribe("player:7", seen.append)
        await client.subscribe("zone:", prefix_seen.append, prefix=True)

        now = int(time.time() * 1000)
        results = await asyncio.gather(*(client.publish({"key": f"player:{i % 10}", "type": "step", "ts": now + i, "data": {"i": i}}) for i in range(2000)))
        assert all(not r.dup for r in results)
        record = await client.get("player:7")
        assert record is not None and record["count"] == 200 and record["fields"] == {"i": 1997}
        assert isinstance(record["lastTs"], int) and record["lastTs"] == now + 1997, "a ms timestamp reads back as an int"
        assert await client.get("nobody") is None

        await client.publish([{"key": "zone:north", "type": "visit"}, {"key": "zone:south", "type": "visit"}, {"key": "other", "type": "visit"}])
        await until("updates", lambda: bool(seen) and seen[-1].meta["count"] == 200 and len(prefix_seen) == 2)
        versions = [u.meta["version"] for u in seen]
        assert versions == sorted(versions), "updates in version order"
        assert sorted(u.key for u in prefix_seen) == ["zone:north", "zone:south"]

        await unsubscribe()
        before = len(seen)
        await client.publish({"key": "player:7", "type": "step"})
        # A marker on a key still subscribed (by prefix) shows the engine got this far.
        await client.publish({"key": "zone:marker", "type": "visit"})
        await until("the marker", lambda: any(u.key == "zone:marker" for u in prefix_seen))
        assert len(seen) == before, "nothing after unsubscribe"

        split = await client.publish([{"key": f"bulk:{i}", "type": "t"} for i in range(1200)])
        assert not split.dup, "more events than a pub holds are split"
        with pytest.raises(HuntError) as refused:
            await client.publish({"key": "x" * 600, "type": "t"})
        assert refused.value.code == "BAD_EVENT"
        with pytest.raises(HuntError) as malformed:
            await client.publish({"key": "", "type": "t"})
        assert malformed.value.code == "BAD_EVENT"


async def test_one_bad_event_fails_only_its_own_publish(engines: Engines) -> None:
    engine = engines.start()
    async with await HuntClient.connect(engine.url, linger=0.05) as client:
        good = [asyncio.ensure_future(client.publish({"key": f"good:{i}", "type": "t"})) for i in range(5)]
        bad = asyncio.ensure_future(client.publish({"key": "bad", "type": "t", "data": {"n": 2**60}}))
        results = await asyncio.gather(*good, bad, return_exceptions=True)
        assert all(not isinstance(r, BaseException) for r in results[:5])
        assert isinstance(results[5], HuntError) and results[5].code == "BAD_EVENT"
        assert [engine.record(f"good:{i}")["count"] for i in range(5)] == [1] * 5  # type: ignore[index]
        assert engine.record("bad") is None


async def test_replay_pages_and_follow_across_a_restart(engines: Engines) -> None:
    engine = engines.start({"HUNT_LOG_RETENTION_EVENTS": "100000", "HUNT_DURABILITY": "sync"})
    async with await HuntClient.connect(engine.url, producer="replayer", backoff=FAST_BACKOFF) as client:
        await asyncio.gather(*(client.publish({"key": "log:k", "type": "t", "data": {"i": i}}) for i in range(250)))
        paged = [event async for event in client.replay(key="log:k", limit=100)]
        assert [e["data"]["i"] for e in paged] == list(range(250)), "pages from offset 0 to the end"

        follow = client.replay(key="log:k", start=paged[-1]["offset"] + 1, follow=True)
        seen: list[dict[str, Any]] = []

        async def consume() -> None:
            async for event in follow:
                seen.append(event)

        consumer = asyncio.create_task(consume())
        await client.publish([{"key": "log:k", "type": "t", "data": {"i": i}} for i in range(250, 300)])
        await until("the followed events", lambda: len(seen) == 50)

        engine = await kill_and_restart(engines, engine)
        await client.publish([{"key": "log:k", "type": "t", "data": {"i": i}} for i in range(300, 350)])
        await until("events after the restart", lambda: len(seen) == 100)
        await follow.aclose()
        await asyncio.wait_for(consumer, 10)
        assert [e["data"]["i"] for e in seen] == list(range(250, 350)), "every event once, in order, across the restart"


async def test_fencing(engines: Engines) -> None:
    engine = engines.start()
    first = await HuntClient.connect(engine.url, producer="shared-name")
    await first.publish({"key": "f", "type": "t"})
    second = await HuntClient.connect(engine.url, producer="shared-name")
    try:
        await until("the first client fenced", lambda: first._closed)
        with pytest.raises(HuntError) as fenced:
            await first.publish({"key": "f", "type": "t"})
        assert fenced.value.code == "CLOSED"
        assert not (await second.publish({"key": "f", "type": "t"})).dup
    finally:
        await first.close()
        await second.close()


async def kill_and_restart(engines: Engines, engine: Engine) -> Engine:
    """SIGKILL, then a new engine process on the same port and data, off the event loop so the
    client sees its connection end meanwhile (as it would when the engine is another host)."""
    await asyncio.to_thread(engine.kill)
    return await asyncio.to_thread(engines.restart, engine)


async def kill_twice(engines: Engines, engine: Engine, progress: Callable[[], int]) -> Engine:
    """SIGKILLs the engine twice while `progress` grows, restarting it on the same port and data."""
    for _ in range(2):
        before = progress()
        await until("acks to flow", lambda: progress() > before + 50, 60)
        engine = await kill_and_restart(engines, engine)
    return engine


async def test_idempotent_producer_survives_two_sigkills_exactly_once(engines: Engines) -> None:
    engine = engines.start({"HUNT_DURABILITY": "sync"})
    client = await HuntClient.connect(engine.url, producer="python-test", linger=0.001, max_batch_events=20, backoff=FAST_BACKOFF)
    count, keys = 20_000, 23
    tasks = [asyncio.ensure_future(client.publish({"key": f"k{i % keys}", "type": "tick"})) for i in range(count)]
    engine = await kill_twice(engines, engine, lambda: sum(1 for f in tasks if f.done()))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == [], "no publish failed"
    counts = [engine.record(f"k{k}")["count"] for k in range(keys)]  # type: ignore[index]
    assert counts == [count // keys + (1 if k < count % keys else 0) for k in range(keys)], "each event applied exactly once"
    await client.close()

    # A new producer process with the same name, nothing of its own to re-send: its pubs go above
    # the seq the engine took, so they are applied, not taken for re-sends.
    again = await HuntClient.connect(engine.url, producer="python-test")
    result = await again.publish({"key": "k0", "type": "tick"})
    assert not result.dup
    assert engine.record("k0")["count"] == counts[0] + 1  # type: ignore[index]
    await again.close()


async def test_without_a_producer_in_flight_pubs_fail_with_disconnected(engines: Engines) -> None:
    engine = engines.start({"HUNT_DURABILITY": "async"})
    client = await HuntClient.connect(engine.url, linger=0.001, max_batch_events=20, backoff=FAST_BACKOFF)
    tasks = [asyncio.ensure_future(client.publish({"key": f"k{i % 23}", "type": "tick"})) for i in range(20_000)]
    engine = await kill_twice(engines, engine, lambda: sum(1 for f in tasks if f.done()))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    codes = Counter(r.code if isinstance(r, HuntError) else "acked" for r in results)
    assert codes["DISCONNECTED"] > 0, codes
    assert codes["acked"] + codes["DISCONNECTED"] == 20_000, f"every publish acked or failed, none hangs: {codes}"
    assert await client.get("k0") is not None, "the client works again after the restarts"
    await client.close()


async def test_overloaded_pubs_are_retried_and_oversized_events_refused(engines: Engines) -> None:
    engine = engines.start({"HUNT_DURABILITY": "sync", "HUNT_WORKERS": "1", "HUNT_RING_BYTES": str(1 << 20), "HUNT_MAX_BACKLOG_BYTES": str(1 << 20), "HUNT_MAX_PAYLOAD_BYTES": str(128 << 10)})
    async with await HuntClient.connect(engine.url, producer="overloaded", max_batch_events=50, backoff=(0.005, 0.05)) as client:
        pad = "x" * 8000
        results = await asyncio.gather(*(client.publish({"key": f"o{i % 7}", "type": "t", "data": {"pad": pad}}) for i in range(2000)))
        assert len(results) == 2000, "every publish acked"
        assert engine.metric('hunt_errors_total{code="OVERLOADED"}') > 0, "some were refused OVERLOADED on the way, and sent again"
        assert sum(engine.record(f"o{k}")["count"] for k in range(7)) == 2000, "each event applied exactly once"  # type: ignore[index]
        with pytest.raises(HuntError) as too_large:
            await client.publish({"key": "huge", "type": "t", "data": {"pad": "x" * (200 << 10)}})
        assert too_large.value.code == "TOO_LARGE"
        assert engine.record("huge") is None


def hs256_jwt(claims: dict[str, Any], secret: bytes) -> str:
    """A JWT signed with HMAC-SHA256, as an identity provider would issue it."""
    import base64
    import hashlib
    import hmac
    import json

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{part(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{part(json.dumps(claims).encode())}"
    return f"{signing_input}.{part(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


async def test_token_provider_refreshes_before_exp(engines: Engines, tmp_path: Any) -> None:
    secret = b"a-jwt-secret-of-at-least-32-bytes-0123456789"
    (tmp_path / "jwt.secret").write_bytes(secret)
    engine = engines.start({"HUNT_DURABILITY": "async", "HUNT_JWT_SECRET_FILE": str(tmp_path / "jwt.secret")})
    issued: list[tuple[float, int]] = []  # (when asked, the token's exp)

    async def provider() -> str:
        exp = int(time.time()) + 2
        issued.append((time.time(), exp))
        return hs256_jwt({"exp": exp, "hunt": {"pub": ["player:"], "read": ["player:"]}}, secret)

    async with await HuntClient.connect(engine.url, token=provider, backoff=FAST_BACKOFF) as client:
        connection = client._ws
        seen: list[Update] = []
        await client.subscribe("player:ann", seen.append)
        await asyncio.sleep(4.5)  # past the first tokens' exp: without a refresh the engine closes the connection (4003)
        await client.publish({"key": "player:ann", "type": "step"})
        await until("the update", lambda: len(seen) == 1)
        assert client._ws is connection, "the connection was never replaced"
        assert len(issued) >= 3
        for (asked, _), (_, previous_exp) in zip(issued[1:], issued):
            assert asked < previous_exp, "each new token was asked for before the previous one expired"
        with pytest.raises(HuntError) as refused:
            await client.publish({"key": "hunt:h1", "type": "step"})
        assert refused.value.code == "FORBIDDEN"
