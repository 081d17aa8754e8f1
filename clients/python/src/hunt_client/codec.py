"""Frames of the engine's wire protocol (v1): one message per frame, MessagePack in a binary frame
or JSON in a text frame. The engine answers in the encoding of the frame it answers.

MessagePack is standard (Python's `msgpack`): integers of any width decode to ints, and the engine
writes integers as MessagePack integers, so a millisecond timestamp reads back as an int.
"""

from __future__ import annotations

import json
from typing import Any, Literal, Mapping

import msgpack  # type: ignore[import-untyped]

Encoding = Literal["msgpack", "json"]

SUBPROTOCOLS: dict[Encoding, str] = {"msgpack": "hunt.v1.msgpack", "json": "hunt.v1.json"}


def encode(message: Mapping[str, Any], encoding: Encoding) -> bytes | str:
    """The frame of a client message: bytes (binary frame) for msgpack, str (text frame) for json."""
    if encoding == "msgpack":
        frame: bytes = msgpack.packb(message)
        return frame
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def decode(frame: bytes | str) -> dict[str, Any]:
    """A server message from a frame as received (bytes: MessagePack, str: JSON)."""
    if isinstance(frame, str):
        message = json.loads(frame)
    else:
        message = msgpack.unpackb(frame, raw=False)
    if not isinstance(message, dict):
        raise ValueError(f"the engine sent a frame that is not a map: {message!r}")
    return message
