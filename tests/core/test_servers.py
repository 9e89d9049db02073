"""The production listener: kept-alive connections stay open under a crowd of clients."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from core.servers import Listener, default_keep_alive_limit

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

CLIENTS = 40  # cheroot alone keeps 10 and tells every further client to reconnect


def hello(_environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


@pytest.fixture
def listener() -> Iterator[Listener]:
    web = Listener("keep-alive-test", hello, threads=4)
    web.start()
    yield web
    web.stop()


def test_the_default_limit_leaves_room_for_a_crowd_of_clients() -> None:
    assert default_keep_alive_limit() >= CLIENTS


def test_every_client_of_a_crowd_keeps_its_connection(listener: Listener) -> None:
    connections = [http.client.HTTPConnection(listener.host, listener.port, timeout=10)
                   for _ in range(CLIENTS)]
    try:
        told_to_close = 0
        for connection in connections:  # each one open and idle while the next asks
            connection.request("GET", "/")
            answer = connection.getresponse()
            assert (answer.status, answer.read()) == (200, b"hello")
            told_to_close += answer.will_close
        assert told_to_close == 0
    finally:
        for connection in connections:
            connection.close()
