"""`iam serve --workers N` hands its workers a listener whose connections get TCP_NODELAY.

uvicorn before 0.55 bound that listener with `proto` 0 (uvicorn#3149) and asyncio then left
Nagle's algorithm on: every keep-alive request after the first waited ~40 ms for the client's
delayed ACK. `tcp_listener` declares the socket as TCP; this checks the accepted socket.
"""

from __future__ import annotations

import asyncio
import socket

import uvicorn

from iam.cli.server import tcp_listener


async def _nodelay_of_accepted(listener: socket.socket) -> int:
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
    port = listener.getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await asyncio.wait_for(accepted, 5)
    finally:
        writer.close()
        server.close()


def _proto_zero_listener() -> socket.socket:
    """A listener bound as uvicorn < 0.55 binds it for `--workers` (uvicorn#3149)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 0)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def test_workers_listener_gives_connections_tcp_nodelay() -> None:
    config = uvicorn.Config("iam.api.app:create_app", host="127.0.0.1", port=0, workers=2)
    with tcp_listener(config.bind_socket()) as listener:
        assert listener.proto == socket.IPPROTO_TCP
        assert asyncio.run(_nodelay_of_accepted(listener)) != 0


def test_a_listener_bound_without_a_protocol_is_declared_tcp() -> None:
    """Whatever uvicorn version is installed, a proto-0 listener still gets TCP_NODELAY."""
    with tcp_listener(_proto_zero_listener()) as listener:
        assert listener.proto == socket.IPPROTO_TCP
        assert asyncio.run(_nodelay_of_accepted(listener)) != 0
