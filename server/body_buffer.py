"""Request bodies read whole before the app gets a thread: the production server's edge (server/wsgi.py).

Granian's WSGI interface hands a request to one of the worker's blocking threads as soon as its headers are in, and
the body is read as the app asks for it. A phone on 2G that sends one byte a second keeps that thread for the whole
upload, and sixteen such phones held all twelve threads of the default server: /health and every other phone
waited. So the server runs Granian's ASGI interface with this adapter in front of the same Flask (WSGI) app:

- the body is read on the worker's event loop, where a waiting connection costs a buffer and no thread, into memory
  up to SPOOL_BYTES and into an anonymous temporary file beyond;
- only a complete request is given to one of PPA_THREADS threads, with its body as `wsgi.input` and its true
  Content-Length (a chunked body gets one too), so the app never waits on the network;
- a body must arrive within PPA_BODY_TIMEOUT seconds in all and with no pause over IDLE_SECONDS (the 60 s read
  timeout of Collect); otherwise the connection gets 408 and is closed;
- a body over PPA_MAX_SUBMISSION_BYTES is read and thrown away up to as many bytes again (at most twice the limit
  in all, within the same time limits) and the request goes to the app with an empty body and the length received,
  so the app answers its own 413 (OpenRosa XML for phones) and the client, which writes its whole body before it
  reads (Python's http.client, OkHttp), reads that answer instead of a reset connection. A Content-Length beyond
  twice the limit is answered at once without reading: draining it would let anyone make the server read for ever.
- the response goes back whole when the app's iterable has ended within STREAM_AFTER bytes (one hand-over to the
  event loop); a longer one (an export) is sent chunk by chunk from the app's thread, each waiting until Granian has
  taken it, so memory stays flat whatever the size.
"""

from __future__ import annotations

import asyncio
import io
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterable
from urllib.parse import unquote_to_bytes

SPOOL_BYTES = 256 * 1024        # a body up to this size stays in memory; a larger one goes to a temporary file
IDLE_SECONDS = 60               # longest pause inside a body (Collect's own read timeout is 60 s)
STREAM_AFTER = 256 * 1024       # a response longer than this is streamed from the app's thread
_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


class _Abandoned(Exception):
    """The client went away while sending its body: nobody to answer."""


class _TooSlow(Exception):
    """The body did not arrive within the time limits."""


class BufferedBody:
    """What was read of a request body: the bytes (None when over the limit), how many arrived, and whether all of
    it was read (a drained body over the limit is complete; one given up on is not)."""

    __slots__ = ("stream", "received", "over_limit", "complete")

    def __init__(self, stream: io.IOBase | None, received: int, over_limit: bool, complete: bool):
        self.stream, self.received, self.over_limit, self.complete = stream, received, over_limit, complete


class BodyBuffer:
    """The ASGI application Granian serves: reads each body on the event loop, then runs the WSGI app in a thread."""

    def __init__(self, app: WSGIApp, threads: int, max_body: int, body_timeout: float,
                 idle_timeout: float = IDLE_SECONDS):
        self.app = app
        self.max_body = max_body
        self.drain = max_body           # bytes past the limit read and discarded at most
        self.body_timeout = body_timeout
        self.idle_timeout = idle_timeout
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ppa-app")

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":     # websockets are off; lifespan is not used (Interfaces.ASGINL)
            return
        try:
            body = await self.read_body(scope, receive)
        except _TooSlow:
            await _plain(send, 408, b"The request body did not arrive in time; the connection is closed.\n")
            return
        except _Abandoned:
            return
        environ = wsgi_environ(scope, body)
        loop = asyncio.get_running_loop()
        whole = await loop.run_in_executor(self.executor, self._run_app, environ, loop, receive, send)
        if whole is not None:
            status, headers, content = whole
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": content, "more_body": False})

    # ------------------------------------------------------------------ the body, on the event loop

    async def read_body(self, scope: dict, receive: Callable) -> BufferedBody:
        declared, chunked = None, False
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = int(value) if value.isdigit() else None
            elif name == b"transfer-encoding":
                chunked = True
        if not chunked and not declared and scope["method"] in _NO_BODY:
            return BufferedBody(None, 0, False, True)
        if declared is not None and declared > self.max_body + self.drain:
            return BufferedBody(None, declared, True, False)     # not worth draining: answered at once
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout
        chunks: list[bytes] = []
        spool: Any = None
        received = 0
        over = declared is not None and declared > self.max_body
        try:
            async with asyncio.timeout(min(deadline, loop.time() + self.idle_timeout)) as timer:
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        raise _Abandoned()
                    chunk = message.get("body", b"")
                    received += len(chunk)
                    if not over and received > self.max_body:
                        over, chunks, spool = True, [], None
                    if over:
                        if received > self.max_body + self.drain:
                            return BufferedBody(None, received, True, False)
                    elif spool is not None:
                        spool.write(chunk)
                    elif chunk:
                        chunks.append(chunk)
                        if received > SPOOL_BYTES:
                            spool = tempfile.TemporaryFile()
                            spool.writelines(chunks)
                            chunks = []
                    if not message.get("more_body", False):
                        break
                    timer.reschedule(min(deadline, loop.time() + self.idle_timeout))
        except TimeoutError:
            raise _TooSlow() from None
        if over:
            return BufferedBody(None, received, True, True)
        if spool is not None:
            spool.seek(0)
            return BufferedBody(spool, received, False, True)
        return BufferedBody(io.BytesIO(b"".join(chunks)), received, False, True)

    # ------------------------------------------------------------------ the app, in a thread

    def _run_app(self, environ: dict, loop: asyncio.AbstractEventLoop, receive: Callable, send: Callable):
        """Call the app. Returns (status, headers, body) for the event loop to send, or None when the response was
        long and has been streamed from here already. A streamed response stops when the client has gone (an
        abandoned export is not generated to the end for nobody)."""
        started: list = []
        gone = threading.Event()

        def start_response(status: str, headers: list[tuple[str, str]], exc_info=None):
            if exc_info is not None and started and started[0] == "sent":
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [int(status[:3]), [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]]
            return _no_write

        def send_now(message: dict) -> None:
            asyncio.run_coroutine_threadsafe(_send(send, message), loop).result()

        stream = environ["wsgi.input"]
        iterable = self.app(environ, start_response)
        try:
            chunks: list[bytes] = []
            size = 0
            iterator = iter(iterable)
            for chunk in iterator:
                if not chunk:
                    continue
                chunks.append(chunk)
                size += len(chunk)
                if size > STREAM_AFTER:
                    status, headers = started
                    started[:] = ["sent"]
                    send_now({"type": "http.response.start", "status": status, "headers": headers})
                    asyncio.run_coroutine_threadsafe(_watch_disconnect(receive, gone), loop)
                    send_now({"type": "http.response.body", "body": b"".join(chunks), "more_body": True})
                    chunks = []
                    for chunk in iterator:
                        if gone.is_set():
                            return None
                        if chunk:
                            send_now({"type": "http.response.body", "body": chunk, "more_body": True})
                    send_now({"type": "http.response.body", "body": b"", "more_body": False})
                    return None
            status, headers = started
            return status, headers, b"".join(chunks)
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
            stream.close()


def _no_write(_data: bytes) -> None:
    raise RuntimeError("the WSGI write() callable is not supported: return an iterable")


async def _send(send: Callable, message: dict) -> None:
    await send(message)


async def _watch_disconnect(receive: Callable, gone: threading.Event) -> None:
    """Once the body has been read, the next message is http.disconnect: when the client goes away, or when the
    response has been sent in full."""
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()


async def _plain(send: Callable, status: int, text: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": text, "more_body": False})


def wsgi_environ(scope: dict, body: BufferedBody) -> dict:
    """The WSGI environ of a request whose body has been read: what Granian's WSGI interface builds (PATH_INFO
    percent-decoded as latin-1, repeated headers joined with commas, cookies with semicolons), with the body's real
    length. A body over the limit comes with its length and no bytes, so the app refuses it with its own 413."""
    server = scope.get("server") or ("127.0.0.1", 80)
    client = scope.get("client") or ("", 0)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(scope["raw_path"]).decode("latin-1") if scope.get("raw_path")
        else scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": str(client[0]),
        "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body.stream if body.stream is not None else io.BytesIO(b""),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if body.received or body.over_limit:
        environ["CONTENT_LENGTH"] = str(body.received)
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1")
        value = raw_value.decode("latin-1")
        if name == "content-type":
            environ["CONTENT_TYPE"] = value
            continue
        if name in ("content-length", "transfer-encoding"):
            continue   # the body has been read: its length is the one above
        key = "HTTP_" + name.upper().replace("-", "_")
        if key in environ:
            value = environ[key] + (";" if key == "HTTP_COOKIE" else ",") + value
        environ[key] = value
    return environ
