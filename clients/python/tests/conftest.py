"""Real engine processes for the client's tests: `node dist/src/main/index.js` (built by `npm run
build`) on port 0 with a temporary data directory, stopped or SIGKILLed by the tests."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import http.client
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[3]
ENGINE_ENTRY = ROOT / "dist" / "src" / "main" / "index.js"
LISTENING = re.compile(r'"port":(\d+)[^\n]*"msg":"listening on')
KAFKA_ENTRY = ROOT / "dist" / "native-bench" / "kafka-cluster.js"
KAFKA_READY = re.compile(r"Kafka is ready: bootstrap servers (\S+)")


async def until(what: str, condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def node() -> str:
    found = os.environ.get("HUNT_NODE") or shutil.which("node")
    if found is None:
        raise RuntimeError("node is not on the PATH (set HUNT_NODE)")
    return found


class NodeProcess:
    """A script of the build run by node until it prints a line matching `ready`; its output is
    collected so a failed start says why."""

    def __init__(self, script: Path, args: list[str], env: dict[str, str], ready: re.Pattern[str], timeout: float, what: str) -> None:
        if not script.exists():
            raise RuntimeError(f"{script} is missing: run `npm run build` first")
        self.process = subprocess.Popen([node(), str(script), *args], env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output: list[str] = []
        self.ready: re.Match[str] | None = None
        seen = threading.Event()

        def read() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.output.append(line)
                match = ready.search(line)
                if match and not seen.is_set():
                    self.ready = match
                    seen.set()
            seen.set()

        threading.Thread(target=read, daemon=True).start()
        if not seen.wait(timeout) or self.ready is None:
            self.process.kill()
            raise RuntimeError(f"{what} did not start:\n" + "".join(self.output))

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()


def key_path(key: str) -> str:
    return "/v1/keys/" + urllib.parse.quote(key, safe="")


class Engine(NodeProcess):
    """One engine process."""

    def __init__(self, data_dir: Path, env: dict[str, str], port: int = 0) -> None:
        self.data_dir = data_dir
        self.env = env
        super().__init__(ENGINE_ENTRY, [], {"HUNT_DATA_DIR": str(data_dir), "HUNT_PORT": str(port), "HUNT_LOG_LEVEL": "info", **env}, LISTENING, 90, "the engine")
        assert self.ready is not None
        self.port = int(self.ready.group(1))

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/stream"

    def record(self, key: str) -> dict[str, Any] | None:
        """GET /v1/keys/:key; None on 404."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{key_path(key)}", timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise

    def status(self, key: str) -> int:
        """The HTTP status of GET /v1/keys/:key here, redirects not followed (cluster mode: 307 where another host applies the key)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", key_path(key))
            return connection.getresponse().status
        finally:
            connection.close()

    def metric(self, name: str) -> float:
        """A metric of GET /metrics, summed over its label sets."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=10) as response:
            text = response.read().decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith((f"{name} ", f"{name}{{")))

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)



def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Engines:
    """Starts engines for a test and stops every one of them after it."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self._all: list[Engine] = []

    def start(self, env: dict[str, str] | None = None) -> Engine:
        # A fixed port, not 0: the engine sets SO_REUSEADDR only on a fixed port, and a restart on
        # the port must not be refused while the killed engine's connections sit in TIME_WAIT.
        return self._track(Engine(self._tmp.mktemp("hunt"), {"HUNT_WORKERS": "2", **(env or {})}, free_port()))

    def restart(self, engine: Engine) -> Engine:
        """A new process on the engine's port and data directory (the old one must have exited)."""
        return self._track(Engine(engine.data_dir, engine.env, engine.port))

    def _track(self, engine: Engine) -> Engine:
        self._all.append(engine)
        return engine

    def stop_all(self) -> None:
        for engine in self._all:
            engine.stop()


@pytest.fixture
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engines]:
    started = Engines(tmp_path_factory)
    yield started
    started.stop_all()


class Kafka(NodeProcess):
    """A real one-broker Apache Kafka on loopback (`native-bench/kafka-cluster.js`, the cluster tests' own)."""

    def __init__(self) -> None:
        super().__init__(KAFKA_ENTRY, ["--brokers", "1"], {}, KAFKA_READY, 180, "Kafka")
        assert self.ready is not None
        self.bootstrap = self.ready.group(1)


@pytest.fixture(scope="module")
def kafka() -> Iterator[Kafka]:
    broker = Kafka()
    yield broker
    broker.stop(signal.SIGINT, 60)  # SIGINT: it stops the broker and removes its data
