"""What honed says to PostgreSQL on the wire: libpq's protocol trace of the connections an
engine hands out, read as round trips and statements.

A round trip is a run of messages the client sends followed by the server's answers: the
client waited for the database once. Pipelined statements sent together are one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from itertools import pairwise
from pathlib import Path
from typing import Any

from psycopg import pq
from sqlalchemy import Engine
from sqlalchemy import event


@dataclass
class WireTrace:
    #: (direction, message type, fields): "F" sent by the client, "B" by the server.
    messages: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def round_trips(self) -> int:
        directions = [direction for direction, _, _ in self.messages]
        return sum(1 for pair in pairwise(directions) if pair == ("F", "B"))

    @property
    def statements(self) -> list[str]:
        """Each statement run, in order: the start of its SQL."""
        sql_of: dict[str, str] = {}  # prepared statement name -> SQL
        bound: list[str] = []
        run: list[str] = []
        for direction, kind, fields in self.messages:
            if direction != "F":
                continue
            if kind == "Parse":  # "<name>" "<sql>" <parameter count> <types>
                name, _, rest = fields.partition(" ")
                sql_of[name] = rest[1 : rest.rindex('"')]
            elif kind == "Bind":  # "<portal>" "<statement name>" ...
                name = fields.split(" ")[1]
                bound.append(sql_of.get(name, name))
            elif kind == "Execute":
                run.append(bound.pop(0)[:60] if bound else "?")
        return run

    def summary(self) -> str:
        """For a failing assertion."""
        return "\n".join(f"{d} {k} {r[:100]}" for d, k, r in self.messages)


@contextmanager
def wire_trace(engine: Engine, directory: Path) -> Iterator[WireTrace]:
    """Trace every connection ``engine`` hands out meanwhile (their messages in one file,
    in order); the trace is filled in on leaving."""
    path = directory / "wire.trace"
    path.unlink(missing_ok=True)
    descriptors: dict[int, int] = {}

    def checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        pgconn = dbapi_connection.pgconn
        # libpq owns the stream it writes to (fdopen); it is flushed when tracing stops.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        descriptors[id(pgconn)] = descriptor
        pgconn.trace(descriptor)
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)

    def checkin(dbapi_connection: Any, _record: Any) -> None:
        pgconn = dbapi_connection.pgconn
        if id(pgconn) in descriptors:
            pgconn.untrace()
            os.close(descriptors.pop(id(pgconn)))

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    trace = WireTrace()
    try:
        yield trace
    finally:
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "checkin", checkin)
        text = path.read_text() if path.exists() else ""
        for line in text.splitlines():
            # <direction>\t<length>\t<type>\t <fields>; a value's own line breaks are
            # written as they are.
            if not line.startswith(("F\t", "B\t")):
                continue
            direction, _length, message = line.split("\t", 2)
            kind, *fields = message.split(maxsplit=1)
            trace.messages.append((direction, kind, fields[0] if fields else ""))
