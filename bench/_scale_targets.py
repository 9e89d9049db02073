"""The scale run's equivalent target set: one asyncio process answering every (component,
region) target of the run, cheaply, so the run measures Bellwether and not the target.

`GET /<region>/<component>` answers 200 `{"status":"ok"}`, or 503 while the region is down;
`POST /down/<region>` and `POST /up/<region>` switch a region. One connection per request
(the probes send `Connection: close`).

Run: `.venv/bin/python bench/_scale_targets.py PORT`.
"""

from __future__ import annotations

import asyncio
import sys

DOWN: set[str] = set()
OK = b'{"status":"ok"}'
FAILED = b'{"status":"down"}'


def answer(status: str, body: bytes) -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: "
            f"{len(body)}\r\nConnection: close\r\n\r\n").encode() + body


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        method, path, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        parts = path.strip("/").split("/")
        if method == "POST" and len(parts) == 2 and parts[0] in ("down", "up"):
            (DOWN.add if parts[0] == "down" else DOWN.discard)(parts[1])
            writer.write(answer("200 OK", OK))
        elif parts and parts[0] in DOWN:
            writer.write(answer("503 Service Unavailable", FAILED))
        else:
            writer.write(answer("200 OK", OK))
        await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
