"""The production server on a public address (issue #10): slow phones do not hold the threads that serve everyone
else, a body over the limit gets the 413 the client can read, and a second server on the same port or the same data
folder refuses to start. Every test runs `ppa serve` (Granian with server/body_buffer.py) on 127.0.0.1."""

from __future__ import annotations

import http.client
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit
from xml.dom import minidom

import pytest

from bench import samples, slow_clients
from server.serve_guard import LOCK_NAME

from .live_server import ROOT, ServerProcess, free_port, prepare, server_env

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="process groups and flock")

# PPA_MAX_SUBMISSION_BYTES of the server in these tests. Over-limit bodies exceed it by 4 MB: more than the loopback
# socket buffers take in while nobody reads, so a server that answered without draining would break the client's
# pipe (as it did before the drain), whereas a few hundred kB over would sit unread in the kernel's buffers.
LIMIT = 5_000_000
OVER = LIMIT + 4_000_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the module: 2 workers of 2 threads (fewer threads than the default, so slow phones would
    take them all sooner) and a 5 MB body limit."""
    data = tmp_path_factory.mktemp("limits") / "data"
    env = server_env(data, free_port(), WORKERS=2, THREADS=2, MAX_SUBMISSION_BYTES=LIMIT)
    device = prepare(env)
    process = ServerProcess(env).start()
    process.submission_path = urlsplit(device["server_url"]).path + "/submission?deviceID=collect:limits"
    process.port = int(env["PPA_PORT"])
    yield process
    process.stop()


def _openrosa_message(body: bytes) -> str:
    assert b"OpenRosaResponse" in body, body[:300]
    found = minidom.parseString(body).getElementsByTagName("message")
    return found[0].firstChild.data if found and found[0].firstChild else ""


def _oversized_submission(size: int) -> tuple[bytes, str]:
    """A household interview with a photo that takes the body to about `size` bytes."""
    xml = slow_clients.household_xml(random.Random(size))
    photo = os.urandom(max(0, size - len(xml)))
    return samples.multipart(samples.submission_parts(xml, {"1732262400999.jpg": photo}))


def _health(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/health")
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


# --------------------------------------------------------------------------- item 3: slow phones

def test_64_slow_body_connections_leave_health_and_a_submission_under_one_second(server):
    report = slow_clients.measure(server.port, server.submission_path, connections=64, seconds=6, settle=2,
                                  timeout=5)
    assert report.opened == 64
    assert report.still_open == 64, "the slow phones were cut off during the run"
    assert report.health_ms and report.submission_ms
    assert set(report.health_statuses) == {200}
    assert set(report.submission_statuses) == {201}
    assert report.health_max_ms < 1000, report.as_dict()
    assert report.submission_max_ms < 1000, report.as_dict()


def test_a_body_that_never_finishes_is_answered_408_and_closed_after_the_body_time_limit(tmp_path):
    env = server_env(tmp_path / "data", free_port(), WORKERS=1, THREADS=2, BODY_TIMEOUT=3)
    path = urlsplit(prepare(env)["server_url"]).path + "/submission"
    server = ServerProcess(env).start()
    try:
        received, waited = _never_finishing_body(int(env["PPA_PORT"]), path)
    finally:
        server.stop()
    assert received.startswith(b"HTTP/1.1 408"), received[:200]
    assert 2.5 < waited < 8, waited


def _never_finishing_body(port: int, path: str) -> tuple[bytes, float]:
    """Headers and the first bytes of a 100 kB body, then nothing: what the server says, and when it closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-OpenRosa-Version: 1.0\r\n"
                     "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000\r\n\r\n".encode())
        started = time.monotonic()
        sock.sendall(b"--x\r\n")
        received = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received, time.monotonic() - started


def test_slow_clients_script_reports_and_fails_when_asked_for_the_impossible(server):
    out = subprocess.run([sys.executable, "-m", "bench.slow_clients", "--port", str(server.port), "--path",
                          server.submission_path, "--connections", "4", "--seconds", "1", "--max-ms", "0.001"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "slow connections: 4 asked, 4 opened" in out.stdout, out.stdout + out.stderr
    assert out.returncode == 1   # no request answers in a microsecond


# --------------------------------------------------------------------------- item 10: the 413 a client can read

def test_http_client_writes_a_body_over_the_limit_whole_then_reads_the_openrosa_413(server):
    body, content_type = _oversized_submission(OVER)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", server.submission_path, body, {"X-OpenRosa-Version": "1.0",
                                                             "Content-Type": content_type})
        response = conn.getresponse()
        reply = response.read()
    finally:
        conn.close()
    assert response.status == 413
    assert response.getheader("Content-Type").startswith("text/xml")
    assert f"larger than this server accepts ({LIMIT} bytes" in _openrosa_message(reply)


def test_a_chunked_body_over_the_limit_is_read_and_answered_413(server):
    body, content_type = _oversized_submission(OVER)
    pieces = [body[i:i + 16_384] for i in range(0, len(body), 16_384)]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", server.submission_path, iter(pieces), {"X-OpenRosa-Version": "1.0",
                                                                     "Content-Type": content_type},
                     encode_chunked=True)
        response = conn.getresponse()
        reply = response.read()
    finally:
        conn.close()
    assert response.status == 413
    assert f"({LIMIT} bytes" in _openrosa_message(reply)


def test_a_content_length_beyond_twice_the_limit_is_answered_413_at_once_without_reading(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"POST {server.submission_path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-OpenRosa-Version: 1.0\r\n"
                     f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {10 * LIMIT}\r\n\r\n".encode())
        started = time.monotonic()
        head = sock.recv(65536)
        assert time.monotonic() - started < 2
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    assert b"OpenRosaResponse" in head


def test_the_drain_stops_at_twice_the_limit_and_the_connection_is_closed(server):
    """An endless chunked body: the server reads at most twice the limit, answers 413 and closes. The sender sees the
    answer (or the closed connection) while it is still sending, long before 200 MB; a server that drained for ever
    would say nothing until the sender stopped. (What the sender wrote beyond twice the limit sits in the kernels'
    socket buffers, which on loopback may hold megabytes; the server does not read it.)"""
    import select

    ceiling = 200_000_000
    sent = 0
    piece = b"4000\r\n" + b"a" * 0x4000 + b"\r\n"
    answer = b""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(f"POST {server.submission_path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-OpenRosa-Version: 1.0\r\n"
                     "Content-Type: multipart/form-data; boundary=x\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        try:
            while sent < ceiling and not select.select([sock], [], [], 0)[0]:
                sock.sendall(piece)
                sent += 0x4000
            answer = sock.recv(65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
    assert sent < ceiling, "the server went on reading past its bound"
    assert sent > 2 * LIMIT
    assert answer == b"" or answer.startswith(b"HTTP/1.1 413"), answer[:200]


# --------------------------------------------------------------------------- item 9: one server per port and folder

def _serve_refused(env: dict[str, str]) -> subprocess.CompletedProcess:
    """`ppa serve` that must refuse: it is given 60 s to exit, and its whole group is killed if it started."""
    process = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], cwd=ROOT, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail("the second server started instead of refusing")
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_serve_refuses_a_port_taken_by_another_process_and_names_the_port(tmp_path):
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)   # as Granian listens
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        env = server_env(tmp_path / "data", port)
        result = _serve_refused(env)
    assert result.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr, result.stderr
    assert "did not start" in result.stderr


def test_a_second_server_on_the_same_data_folder_refuses_naming_the_folder_and_the_first_pid(server):
    env = {**server.env, "PPA_PORT": str(free_port())}
    result = _serve_refused(env)
    data = str(Path(server.env["PPA_DATA"]).resolve())
    assert result.returncode != 0
    assert f"(pid {server.process.pid})" in result.stderr, result.stderr
    assert f"the data folder {data}" in result.stderr, result.stderr
    assert _health(server.port) == 200    # the first goes on


def test_a_lock_left_by_a_server_killed_with_sigkill_does_not_block_a_restart(tmp_path):
    env = server_env(tmp_path / "data", free_port(), WORKERS=1, THREADS=2)
    prepare(env)
    first = ServerProcess(env).start()
    first_pid = first.process.pid
    first.kill()                  # SIGKILL to the main process and its worker at once
    assert not first.group_alive()
    lock = tmp_path / "data" / LOCK_NAME
    assert lock.read_text().strip() == str(first_pid)   # the stale pid is still written there
    second = ServerProcess(env).start()
    try:
        assert lock.read_text().strip() == str(second.process.pid)
        assert _health(int(env["PPA_PORT"])) == 200
    finally:
        second.stop()


# --------------------------------------------------------------------------- the adapter's response path

def test_a_long_response_is_streamed_chunk_by_chunk_as_the_app_yields_it():
    """An export: the adapter sends each chunk as it is yielded and waits until it is taken, so the app is never
    more than one chunk ahead of the connection (memory stays flat), and nothing is lost or reordered."""
    import asyncio

    from server.body_buffer import BodyBuffer

    produced = []

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/csv")])

        def rows():
            for i in range(200):
                produced.append(i)
                yield (b"%05d," % i) * 13_000    # 78 kB a chunk, 15.6 MB in all
        return rows()

    sent: list[dict] = []
    ahead: list[int] = []

    async def send(message: dict) -> None:
        if message["type"] == "http.response.body" and message["body"]:
            ahead.append(len(produced) - sum(1 for m in sent if m["type"] == "http.response.body" and m["body"]))
        sent.append(message)
        await asyncio.sleep(0)

    async def receive() -> dict:     # a GET's body is not read: this is the disconnect watch, and nobody leaves
        await asyncio.Event().wait()

    scope = {"type": "http", "method": "GET", "path": "/export.csv", "raw_path": b"/export.csv",
             "query_string": b"", "headers": [(b"host", b"127.0.0.1")], "server": ("127.0.0.1", 80),
             "client": ("127.0.0.1", 5000), "scheme": "http", "http_version": "1.1"}
    adapter = BodyBuffer(app, threads=1, max_body=1000, body_timeout=5)
    asyncio.run(adapter(scope, receive, send))
    adapter.executor.shutdown()
    assert sent[0] == {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/csv")]}
    body = b"".join(m["body"] for m in sent[1:])
    assert body == b"".join((b"%05d," % i) * 13_000 for i in range(200))
    assert sent[-1]["more_body"] is False
    assert len(sent) > 150                # streamed, not gathered into one message
    assert max(ahead) <= 4, max(ahead)    # the first message holds the chunks up to 256 kB; then one at a time


def test_a_short_response_is_sent_whole_with_the_body_the_app_read():
    import asyncio

    from server.body_buffer import BodyBuffer

    def app(environ, start_response):
        data = environ["wsgi.input"].read()
        start_response("201 Created", [("Content-Type", "text/plain")])
        return [b"got ", str(len(data)).encode(), b" ", environ["CONTENT_LENGTH"].encode()]

    chunks = iter([b"a" * 100, b"b" * 50, b""])
    sent: list[dict] = []

    async def receive() -> dict:
        chunk = next(chunks)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunk)}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "raw_path": b"/x", "query_string": b"",
             "headers": [(b"transfer-encoding", b"chunked")], "server": ("127.0.0.1", 80),
             "client": ("127.0.0.1", 5000), "scheme": "http", "http_version": "1.1"}
    adapter = BodyBuffer(app, threads=1, max_body=1000, body_timeout=5)
    asyncio.run(adapter(scope, receive, send))
    adapter.executor.shutdown()
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 201
    assert sent[1]["body"] == b"got 150 150"


def test_a_streamed_response_stops_when_the_client_has_gone():
    """A researcher closes the browser tab during an export: the app's generator is not run to the end."""
    import asyncio

    from server.body_buffer import BodyBuffer

    produced = []

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/csv")])

        def rows():
            for i in range(1000):
                produced.append(i)
                yield b"x" * 100_000
        return rows()

    sent: list[dict] = []
    left = asyncio.Event()

    async def send(message: dict) -> None:
        sent.append(message)
        if len(sent) == 10:
            left.set()              # the connection drops after nine body messages
        await asyncio.sleep(0.001)

    async def receive() -> dict:
        await left.wait()
        return {"type": "http.disconnect"}

    scope = {"type": "http", "method": "GET", "path": "/export.csv", "raw_path": b"/export.csv",
             "query_string": b"", "headers": [], "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000),
             "scheme": "http", "http_version": "1.1"}
    adapter = BodyBuffer(app, threads=1, max_body=1000, body_timeout=5)
    asyncio.run(adapter(scope, receive, send))
    adapter.executor.shutdown()
    assert 10 <= len(produced) < 30, len(produced)
    assert sent[-1]["more_body"] is True      # never finished: nobody was there


def test_a_large_export_is_streamed_through_the_production_server_in_flat_memory(server):
    """Forty households with a 2 MB photo each; the raw export (about 80 MB of zip) is downloaded over HTTP slowly,
    as a researcher on a poor line would, while the server's memory is sampled: it grows by far less than the
    download (the adapter sends each chunk as the export makes it and waits until it is taken)."""
    import io
    import json
    import threading
    import zipfile

    from server.xforms import parse_xform

    from . import factories
    from .live_server import cli

    form = parse_xform((ROOT / "forms" / "household_income.xml").read_bytes())
    rng = random.Random(777)   # instanceIDs of its own (slow_clients.measure draws new ones every run)
    photos = {}
    for i in range(40):
        instance_id, xml, files = factories.household_with_photo(form, rng, i, members=3, photo_every=1, prefix="x")
        files = {name: os.urandom(2_000_000) for name in files}
        photos[instance_id] = files
        body, content_type = samples.multipart(samples.submission_parts(xml, files))
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            conn.request("POST", server.submission_path, body, {"X-OpenRosa-Version": "1.0",
                                                                 "Content-Type": content_type})
            response = conn.getresponse()
            response.read()
        finally:
            conn.close()
        assert response.status == 201
    cli(server.env, "user", "add", "--role", "researcher", "--email", "export@example.org", "--project", "1",
        stdin="an-export-password-long\n")
    token = json.loads(cli(server.env, "token", "create", "--email", "export@example.org").stdout)["token"]

    def rss_mb() -> float:
        total = 0
        for pid in server.pids():
            try:
                total += sum(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                             if line.startswith("VmRSS:"))
            except FileNotFoundError:
                continue
        return total / 1024

    before = rss_mb()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak.append(rss_mb())

    sampler = threading.Thread(target=sample)
    sampler.start()
    received = io.BytesIO()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request("GET", "/api/v1/projects/1/forms/household_income/export.raw",
                     headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        assert response.status == 200
        while chunk := response.read(1 << 20):
            received.write(chunk)
            time.sleep(0.02)            # a slower reader than the server: the server must wait, not gather
    finally:
        conn.close()
        done.set()
        sampler.join()
    size_mb = received.tell() / 1e6
    growth = max(peak) - before
    assert size_mb > 75, size_mb
    with zipfile.ZipFile(received) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    for files in photos.values():
        for name, data in files.items():
            assert any(key.endswith("/" + name) or key == name for key in contents if contents[key] == data), name
    assert growth < 30, f"the server grew by {growth:.1f} MB for a {size_mb:.0f} MB download"
