"""Encodes messages with Python's standard `msgpack` for the shared test vectors (generate.ts).

Reads one JSON message per line on stdin and writes its MessagePack as hex, one line each.
JSON integers are Python ints, so any width reaches the encoder exactly; {"$bin": hex} is bytes
and {"$ext": [type, hex]} an extension, for the cases the engine must refuse.
"""

import json
import sys

import msgpack


def revive(value):
    if isinstance(value, dict):
        if set(value) == {"$bin"}:
            return bytes.fromhex(value["$bin"])
        if set(value) == {"$ext"}:
            code, data = value["$ext"]
            return msgpack.ExtType(code, bytes.fromhex(data))
        return {name: revive(item) for name, item in value.items()}
    if isinstance(value, list):
        return [revive(item) for item in value]
    return value


for line in sys.stdin:
    print(msgpack.packb(revive(json.loads(line))).hex())
