"""`python -m bench.speedups`: what each speed-up that stands in for a library's own code saves, per submission.

Issue 11 asked that such speed-ups stay only where a measurement shows they matter. Each pair below runs in this
one process, the two sides taking turns round after round, on the same inputs:

- validation of one household-income record (5-member roster): marshmallow walking the schema, against the plan
  compiled from the same schema's fields (schemas/xform.py);
- parsing one Collect upload (the XML and a 60 KB photo, a new boundary each time, as OkHttp sends them): werkzeug's
  multipart decoder, against the one create_app installs (server/multipart.py);
- opening the session of a request without a cookie (every Collect submission): Flask's interface, against the
  same interface keeping its signer between requests (the subclass the server had, and dropped: see README).

Compare the savings with the in-process CPU per submission of `python -m bench` (about 2 ms).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from . import samples
from .benchmark import machine

FORMS = Path(__file__).resolve().parent.parent / "forms"


def _rounds(pair: dict[str, Callable[[], Any]], repeat: int, rounds: int) -> dict[str, dict]:
    """Milliseconds per call of each side, the sides taking turns each round: best and median of the rounds."""
    times: dict[str, list[float]] = {name: [] for name in pair}
    for _ in range(rounds):
        for name, fn in pair.items():
            started = time.perf_counter()
            for _ in range(repeat):
                fn()
            times[name].append((time.perf_counter() - started) / repeat * 1000)
    return {name: {"best_ms": round(min(t), 4), "median_ms": round(statistics.median(t), 4)}
            for name, t in times.items()}


def validation(rounds: int) -> dict[str, dict]:
    from schemas import xform as form_schemas
    from server.xforms import extract, parse_submission, parse_xform

    rng = random.Random(5)
    form = parse_xform((FORMS / "household_income.xml").read_bytes())
    answers = samples.fill(form, samples.household_income(rng, "chanderi-w03-v1", on_list=False), rng)
    record = extract(parse_submission(samples.instance_xml(form, answers)).root, form).record
    schema = form_schemas.schema_for(form)
    if form_schemas.load(form, record) != schema.load(record):
        raise AssertionError("the plan and marshmallow disagree on the sample")
    return _rounds({"marshmallow": lambda: schema.load(record),
                    "compiled plan": lambda: form_schemas.load(form, record)}, 300, rounds)


def multipart_parsing(rounds: int) -> dict[str, dict]:
    from werkzeug import formparser
    from werkzeug.sansio.multipart import MultipartDecoder

    from server.multipart import fast_decoder_class

    rng = random.Random(1)
    xml = (FORMS / "household_income.xml").read_bytes()[:12_000]   # about the size of an interview's XML
    parts = samples.submission_parts(xml, {"photo.jpg": rng.randbytes(60_000)})
    fast = fast_decoder_class()
    if fast is None:
        raise SystemExit("this werkzeug is not the one server/multipart.py was written for")

    def parse(decoder, body: bytes, content_type: str) -> None:
        formparser.MultipartDecoder = decoder
        environ = {"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
                   "CONTENT_TYPE": content_type, "REQUEST_METHOD": "POST"}
        _, _, files = formparser.parse_form_data(environ, max_form_memory_size=10_000_000)
        if "xml_submission_file" not in files:
            raise AssertionError("the XML part was not found")

    sides = {"werkzeug's decoder": MultipartDecoder, "server/multipart.py": fast}
    times: dict[str, list[float]] = {name: [] for name in sides}
    original = formparser.MultipartDecoder
    try:
        for _ in range(rounds):
            for name, decoder in sides.items():
                # a boundary never seen before for every body, as Collect sends them: re's cache of compiled
                # patterns must not hold werkzeug's from an earlier body
                bodies = [samples.multipart(parts, boundary=str(uuid.uuid4())) for _ in range(200)]
                started = time.perf_counter()
                for body, content_type in bodies:
                    parse(decoder, body, content_type)
                times[name].append((time.perf_counter() - started) / len(bodies) * 1000)
    finally:
        formparser.MultipartDecoder = original
    return {name: {"best_ms": round(min(t), 4), "median_ms": round(statistics.median(t), 4)}
            for name, t in times.items()}


def session_opening(rounds: int) -> dict[str, dict]:
    from flask import request
    from flask.sessions import SecureCookieSessionInterface

    from server import create_app

    class KeptSigner(SecureCookieSessionInterface):
        def __init__(self) -> None:
            self._signer = None

        def get_signing_serializer(self, app):
            if self._signer is None:
                self._signer = super().get_signing_serializer(app)
            return self._signer

    with tempfile.TemporaryDirectory() as data:
        app = create_app({"DATA": data, "LOG_LEVEL": "WARNING"})
        try:
            flask_own, kept = SecureCookieSessionInterface(), KeptSigner()
            with app.test_request_context("/v1/key/x/projects/1/submission", method="POST"):
                return _rounds({"Flask's interface": lambda: flask_own.open_session(app, request),
                                "signer kept": lambda: kept.open_session(app, request)}, 3000, rounds)
        finally:
            app.extensions["ppa"].store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = {"machine": machine(), "validation": validation(args.rounds),
              "multipart": multipart_parsing(args.rounds), "session": session_opening(args.rounds)}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"machine: {report['machine']}")
    for what in ("validation", "multipart", "session"):
        (a, ta), (b, tb) = report[what].items()
        print(f"{what:<11} {a:<20} {ta['median_ms']:.4f} ms   {b:<20} {tb['median_ms']:.4f} ms   "
              f"saves {ta['median_ms'] - tb['median_ms']:.4f} ms a submission (medians of {args.rounds} rounds)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
