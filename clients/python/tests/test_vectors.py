"""The shared test vectors (test/vectors/vectors.json) with this client's codec: every MessagePack
frame decodes to its message, and every message the client encodes itself gets from a live engine
the answers the file expects, leaving the records it expects."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Iterator

import pytest
from websockets.asyncio.client import ClientConnection, connect

from conftest import ROOT, Engine, Engines
from hunt_client import decode, encode

VECTORS = json.loads((ROOT / "test" / "vectors" / "vectors.json").read_text())
CASES = VECTORS["cases"]


def matches(expected: Any, actual: Any) -> bool:
    """Maps as subsets, arrays item by item, the rest equal (a bool only equals a bool)."""
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(matches(e, a) for e, a in zip(expected, actual))
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(name in actual and matches(item, actual[name]) for name, item in expected.items())
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    return expected == actual


@pytest.mark.parametrize("case", [c for c in CASES if any(s.get("encoding") == "msgpack" for s in c["steps"])], ids=lambda c: c["name"])
def test_frames_decode_to_their_messages(case: dict[str, Any]) -> None:
    for step in case["steps"]:
        if step.get("encoding") != "msgpack":
            continue
        decoded = decode(bytes.fromhex(step["frame"]))
        if "message" in step:
            assert decoded == step["message"]


@pytest.fixture(scope="module")
def live_engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Engine]]:
    started = Engines(tmp_path_factory)
    kinds = {}
    for kind, env in VECTORS["engines"].items():
        env = dict(env)
        if "HUNT_ROUTES" in env:
            env["HUNT_ROUTES"] = str(ROOT / env["HUNT_ROUTES"])
        kinds[kind] = started.start(env)
    yield kinds
    started.stop_all()


def encodable(case: dict[str, Any]) -> bool:
    return all(step.get("reconnect") or "message" in step for step in case["steps"])


async def answers(ws: ClientConnection, expected: list[Any]) -> None:
    wanted = list(expected)
    while wanted:
        message = decode(await asyncio.wait_for(ws.recv(), 15))
        if message.get("op") == "welcome":
            continue
        at = next((i for i, item in enumerate(wanted) if matches(item, message)), None)
        assert at is not None, f"unexpected {message!r} while waiting for {wanted!r}"
        wanted.pop(at)


@pytest.mark.parametrize("case", [c for c in CASES if encodable(c)], ids=lambda c: c["name"])
async def test_messages_encoded_by_this_client(case: dict[str, Any], live_engines: dict[str, Engine]) -> None:
    engine = live_engines[case["engine"]]
    ws = await connect(engine.url, max_size=None)
    try:
        for step in case["steps"]:
            if step.get("reconnect"):
                await ws.close()
                ws = await connect(engine.url, max_size=None)
                continue
            await ws.send(encode(step["message"], step["encoding"]))
            await answers(ws, step["expect"])
    finally:
        await ws.close()
    for key, record in case["records"].items():
        assert matches(record, engine.record(key)), f"{key}: {engine.record(key)!r}"
