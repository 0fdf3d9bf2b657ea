"""The listening sockets of `iam serve`: TCP_NODELAY on what they accept, one socket per
worker in one SO_REUSEPORT group, and an address already in use refused.

uvicorn before 0.55 bound the workers' listener with `proto` 0 (uvicorn#3149) and asyncio then
left Nagle's algorithm on: every keep-alive request after the first waited ~40 ms for the
client's delayed ACK. `iam.cli.workers.listener` declares its sockets as TCP.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from iam.cli.workers import AddressInUse, free_port_of, listener


async def _nodelay_of_accepted(sock: socket.socket) -> int:
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            conn = transport.get_extra_info("socket")
            accepted.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
    port = sock.getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await asyncio.wait_for(accepted, 5)
    finally:
        writer.close()
        server.close()


def test_worker_listener_gives_connections_tcp_nodelay() -> None:
    with listener("127.0.0.1", 0, 16, reuse_port=True) as sock:
        assert sock.proto == socket.IPPROTO_TCP
        assert asyncio.run(_nodelay_of_accepted(sock)) != 0


def test_workers_listeners_share_one_port() -> None:
    port = free_port_of("127.0.0.1", 0)
    first = listener("127.0.0.1", port, 16, reuse_port=True)
    second = listener("127.0.0.1", port, 16, reuse_port=True)
    with first, second:
        assert first.getsockname() == second.getsockname() == ("127.0.0.1", port)


def test_a_port_another_server_listens_on_is_refused() -> None:
    """Even one of another `iam serve --workers N`: joining its group would split its load."""
    with listener("127.0.0.1", 0, 16, reuse_port=True) as busy:
        port = busy.getsockname()[1]
        with pytest.raises(AddressInUse, match=f"127.0.0.1:{port} is already in use"):
            free_port_of("127.0.0.1", port)
