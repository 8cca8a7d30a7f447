"""A loopback TCP proxy that can fail the way networks do, in front of a real PostgreSQL.

`silence()` stops forwarding in both directions without closing anything: the client's bytes
are read and dropped, the server's never arrive, as when a firewall or a dead network path
drops packets. New connections are accepted and silenced too (a connect hangs). `cut()` closes
every connection and refuses new ones: an outage the client notices at once. `restore()` goes
back to forwarding (connections silenced meanwhile stay dead, as after a real partition; the
pool makes new ones).

It is fault injection in front of the real database, not a fake of it.
"""

from __future__ import annotations

import asyncio
import contextlib


class FaultyProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self.mode = "forward"  # forward | silent | cut
        self.port = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def silence(self) -> None:
        self.mode = "silent"
        for link in self._links:
            link.silent = True

    def cut(self) -> None:
        self.mode = "cut"
        for link in list(self._links):
            link.close()

    def restore(self) -> None:
        self.mode = "forward"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "cut":
            writer.close()
            return
        link = _Link(reader, writer, silent=self.mode == "silent")
        self._links.add(link)
        try:
            await link.run(self._upstream)
        finally:
            self._links.discard(link)


class _Link:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, silent: bool
    ) -> None:
        self._client = (reader, writer)
        self._server_writer: asyncio.StreamWriter | None = None
        self.silent = silent
        self._tasks: list[asyncio.Task[None]] = []

    async def run(self, upstream: tuple[str, int]) -> None:
        reader, writer = self._client
        try:
            up_reader, up_writer = await asyncio.open_connection(*upstream)
        except OSError:
            writer.close()
            return
        self._server_writer = up_writer
        self._tasks = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.close()

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while True:
            data = await source.read(65536)
            if not data:
                break
            if self.silent:
                continue  # dropped: never forwarded, never answered, nothing closed
            sink.write(data)
            await sink.drain()
        if not self.silent:
            sink.close()

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._client[1].close()
        if self._server_writer is not None:
            self._server_writer.close()
