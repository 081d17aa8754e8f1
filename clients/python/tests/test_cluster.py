"""Cluster mode (a real one-broker Kafka, two engine hosts): the client follows keys to the host that
applies them. Host 1 applies every partition while the client subscribes there; host 2 joins and
takes partitions; the key subscriptions follow their keys (`moved`), the prefix subscription is made
at host 2 too, log follows go on at host 2 from where they were, and `get`, a new subscription and a
paged replay reach the owner (NOT_OWNER)."""

from __future__ import annotations

import asyncio
import re
from collections import Counter

import pytest

from conftest import Engines, Kafka, until
from hunt_client import HuntClient, HuntError, ReplayStream, Update

KEYS = [f"watch:{i}" for i in range(64)]
#: Keys without events until after the move: their follows' positions move only with the partitions' other keys.
QUIET = [f"quiet:{i}" for i in range(64)]


async def test_reads_and_subscriptions_follow_keys_to_their_owner(engines: Engines, kafka: Kafka) -> None:
    env = {
        "HUNT_KAFKA_BROKERS": kafka.bootstrap,
        "HUNT_KAFKA_TOPIC": "py-events",
        "HUNT_KAFKA_GROUP": "py-hosts",
        "HUNT_DURABILITY": "async",
        "HUNT_WORKERS": "1",
        "HUNT_ACCEPTORS": "1",
        "HUNT_STORES": "4",
        "HUNT_LOG_RETENTION_EVENTS": "1000",
    }
    host1 = engines.start(env)
    async with await HuntClient.connect(host1.url, backoff=(0.05, 1.0)) as client:
        await client.publish([{"key": key, "type": "seen", "data": {"name": "before"}} for key in KEYS])
        await until("host 1 to apply its partitions", lambda: all(host1.status(key) == 200 for key in KEYS), 120)

        latest: dict[str, Update] = {}
        under_prefix: Counter[str] = Counter()
        probed: set[str] = set()

        def on_prefix(update: Update) -> None:
            name = update.meta["fields"].get("name")
            if name == "probe":
                probed.add(update.key)
            if name == "after":
                under_prefix[update.key] += 1

        for key in KEYS:
            await client.subscribe(key, lambda update: latest.__setitem__(update.key, update))
        await client.subscribe("watch:", on_prefix, prefix=True)
        followed: dict[str, list[int]] = {key: [] for key in KEYS + QUIET}
        follows = [client.replay(key=key, follow=True) for key in KEYS + QUIET]

        async def consume(key: str, follow: ReplayStream) -> None:
            async for event in follow:
                followed[key].append(event["version"])

        consumers = [asyncio.create_task(consume(key, follow)) for key, follow in zip(KEYS + QUIET, follows)]
        await until("the follows to start", lambda: all(followed[key] == [1] for key in KEYS) and host1.metric("hunt_log_follows") == len(follows), 30)

        host2 = engines.start(env)
        await until("host 2 to take partitions", lambda: any(host1.status(key) == 307 for key in KEYS), 120)
        await until("host 2 to apply them", lambda: all(host2.status(key) in (200, 307) for key in KEYS) and any(host2.status(key) == 200 for key in KEYS), 120)
        moved = [key for key in KEYS if host2.status(key) == 200]

        # A prefix subscription has no snapshot: the client makes it at host 2 when `moved` names
        # the prefix, up to a second after the move. Probes show when it sees host 2's changes.
        for _ in range(120):
            missing = [key for key in KEYS if key not in probed]
            if not missing:
                break
            await client.publish([{"key": key, "type": "seen", "data": {"name": "probe"}} for key in missing])
            await asyncio.sleep(0.5)
        assert probed == set(KEYS), f"the prefix subscription sees every key ({len(probed)} of {len(KEYS)})"

        await client.publish([{"key": key, "type": "seen", "data": {"name": "after"}} for key in KEYS + QUIET])
        await until("each key subscription to see its key's last event", lambda: all(k in latest and latest[k].meta["fields"]["name"] == "after" for k in KEYS), 60)
        await until("the prefix subscription to see each key's last event", lambda: len(under_prefix) == len(KEYS), 60)
        assert set(under_prefix.values()) == {1}, "the prefix subscription sees each key's event once"

        for key in KEYS:
            record = await client.get(key)
            owner = host2 if key in moved else host1
            assert record == owner.record(key), f"get({key!r}) answers the owner's record"
            assert latest[key].meta == record, f"{key}'s subscription ends at the owner's record"

        # The follows went on at host 2 from where they were: every event once, in order.
        await until("the follows to see each key's last event", lambda: all(len(followed[key]) == latest[key].meta["count"] for key in KEYS), 60)
        assert all(followed[key] == list(range(1, latest[key].meta["count"] + 1)) for key in KEYS), "each follow sees its key's versions once, in order"
        await until("the quiet keys' follows to see their first event", lambda: all(followed[key] for key in QUIET), 60)
        assert all(followed[key] == [1] for key in QUIET), "a quiet key's follow goes on from where the old host's log reached"
        for follow in follows:
            await follow.aclose()
        await asyncio.gather(*consumers)

        # Asked of host 1, a new subscription and a replay of a key host 2 applies go to host 2.
        key = moved[0]
        fresh: list[Update] = []
        unsubscribe = await client.subscribe(key, fresh.append)
        await until("the new subscription's snapshot", lambda: bool(fresh), 30)
        assert fresh[0].meta == host2.record(key)
        # The owner's log starts where it took the partition over: the history before stays on host 1.
        with pytest.raises(HuntError, match=r"OUT_OF_RANGE.*earliest held is \d+") as refused:
            [event async for event in client.replay(key=key)]
        earliest = int(re.search(r"earliest held is (\d+)", str(refused.value)).group(1))  # type: ignore[union-attr]
        events = [event async for event in client.replay(key=key, start=earliest)]
        assert [event["data"]["name"] for event in events][-1:] == ["after"], "the replay comes from the owner's log"
        await unsubscribe()
