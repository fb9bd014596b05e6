"""The registry's read path for serving agents: ETags, a per-process cache of answers, long-polls.

Two reads are polled by every serving agent (or by its operators): a pod's desired state
(``GET .../services/{s}/desired?pod=P``) and a version by alias (``GET .../models/{m}/versions/
{ref}``). ``ReadPath.read`` answers them:

1. **Validity check.** One indexed query reads the answer's *token* (``service.generations``:
   generation counters bumped in the transaction of every write that can change the answer),
   on a connection this process keeps for it (autocommit: no BEGIN, no ORM). Reads never write.
   SQLite: on the event loop, through the DBAPI cursor with SQL compiled once (a local read of
   microseconds; no threadpool hop). PostgreSQL: a round trip must not block the loop, and one
   per request would make the database the bound, so reads are *batched*: one thread with its
   own connection reads the tokens of every key asked for while its previous read was in
   flight, in one query (``TokenBatcher``). Every request still gets a token read that began
   after it arrived, so it sees every write committed before it was sent.
2. **Cache.** Each process keeps the serialised answer per key (LRU, ``cache_size`` entries)
   with the token it was computed at. Same token (and, for a canary's answer, not past the
   moment a live pod goes stale) -> the cached bytes; otherwise the answer is computed again in
   the threadpool through the ORM, and cached; concurrent readers of one (key, token) share
   one computation (single flight: after an alias move, 300 woken long-polls compute once).
   Several workers or replicas each cache their
   own: the token comes from the shared database, so none serves an answer older than the last
   committed write it can see.
3. **ETag.** The strong ETag is a hash of the answer's bytes: every process computes the same
   ETag for the same answer, so a client's ``If-None-Match`` is honoured by any replica;
   a match is ``304 Not Modified`` with no body.
4. **Long-poll.** With ``wait=<seconds>`` and a matching ``If-None-Match``, the request is held
   until the answer changes or ``wait`` runs out (then 304). Waiters are parked on the process's
   ``Watcher``: while any waits, ONE task re-reads the tokens of every waited key in one query
   every ``check_interval`` seconds (the cross-worker and cross-replica path), and at once when
   a write commits in this process (``Watcher.poke``: called by the write session's dependency
   and after a registration). A changed token wakes its waiters, which recompute and answer if
   their ETag no longer matches. While the check fails (the database is down) it backs off up
   to ``CHECK_BACKOFF_MAX`` seconds and logs once. No waiter, no task: idle cost is zero. At
   most ``max_waiters`` per process; beyond that a request is answered at once (304 or 200), as
   without ``wait``. A client that goes away (``http.disconnect`` on the ASGI receive channel)
   frees its slot at once; ``If-None-Match: *`` matches any current answer, so it is answered
   (304) at once, never held.
5. **Metrics** (``glue.model_registry.metrics``): answers by kind and status, cache hits and
   misses, long-polls held.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import PoolProxiedConnection
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import Receive

from glue.model_registry.db import Database
from glue.model_registry.metrics import Metrics
from glue.model_registry.models import utcnow
from glue.model_registry.service import generations
from glue.model_registry.service.generations import Token, TokenQuery

log = structlog.get_logger("kubeai.registry")

#: What a cached answer is keyed by: ``(kind, team, name, *rest)``; kind ``service``/``model``.
Key = tuple[str, ...]
#: The key a long-poll waits on: ``(kind, team, name)`` (the token's scope).
WatchKey = tuple[str, str, str]

#: Longest pause (s) between two long-poll checks while they fail (the database is down).
CHECK_BACKOFF_MAX = 2.0

#: Headers of every answer: caches must revalidate (the ETag), never reuse blindly.
CACHE_CONTROL = "no-cache"


def etag_of(body: bytes) -> str:
    """The strong ETag of an answer: a quoted 128-bit BLAKE2b of its bytes."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header value names ``etag`` (RFC 9110 weak comparison, as
    the header asks: ``W/"x"`` matches ``"x"``; ``*`` matches any current answer)."""
    if not if_none_match:
        return False
    for item in if_none_match.split(","):
        tag = item.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def joined_if_none_match(lines: list[str]) -> str | None:
    """Every ``If-None-Match`` header line as one list (RFC 9110 5.3: repeated lines are one
    comma-separated value), or None when there is none."""
    return ", ".join(lines) if lines else None


def long_poll_seconds(requested: float, maximum: float) -> float:
    """How long a long-poll asking for ``requested`` seconds (finite, >= 0) is held: at most
    ``maximum`` (``long_poll_max_seconds``; 0 turns long-polls off)."""
    return min(requested, maximum)


@dataclass(frozen=True)
class Entry:
    """One computed answer: its bytes and ETag, the token it is valid for, and (monotonic
    seconds, None: until a write) when time alone ends its validity."""

    token: Token
    body: bytes
    etag: str
    expires: float | None = None

    def fresh(self, token: Token, now: float) -> bool:
        """Valid for ``token`` at monotonic time ``now``."""
        return self.token == token and (self.expires is None or now < self.expires)


class ReadCache:
    """LRU map of ``Key`` -> ``Entry`` (at most ``size`` entries; thread-safe)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key) -> Entry | None:
        """The entry of ``key`` (marked recently used), or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: Key, entry: Entry) -> None:
        """Store ``entry``, dropping the least recently used beyond ``size``."""
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass
class _Waiter:
    key: WatchKey
    token: Token
    future: asyncio.Future[None]


@dataclass
class Watcher:
    """Long-poll waiters of one process and the single task that checks their tokens.

    ``check(keys)`` returns the current token of each key (absent: gone); it runs in the
    threadpool, once per ``interval`` seconds while anyone waits, and at once after ``poke``.
    """

    check: Callable[[list[WatchKey]], dict[WatchKey, Token]]
    interval: float
    max_waiters: int
    _waiters: list[_Waiter] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _wake: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    @property
    def waiting(self) -> int:
        """How many requests wait now."""
        return len(self._waiters)

    def full(self) -> bool:
        """No room for another waiter (``max_waiters``)."""
        return len(self._waiters) >= self.max_waiters

    def poke(self) -> None:
        """A write committed in this process: check the waiters' tokens now (thread-safe;
        nothing to do while nobody waits)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and self._waiters and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    async def wait(self, key: WatchKey, token: Token, timeout: float) -> bool:
        """Wait until ``key``'s token differs from ``token`` (True) or ``timeout`` s pass
        (False). Call only when not ``full()``."""
        loop = asyncio.get_running_loop()
        waiter = _Waiter(key, token, loop.create_future())
        self._waiters.append(waiter)
        self._ensure_task(loop)
        try:
            await asyncio.wait_for(asyncio.shield(waiter.future), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self._waiters.remove(waiter)

    def _ensure_task(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._task is None or self._task.done():
            self._loop, self._wake = loop, asyncio.Event()
            self._task = loop.create_task(self._run())

    async def _run(self) -> None:
        assert self._wake is not None
        delay = self.interval
        while self._waiters:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()
            waiting = list(self._waiters)
            if not waiting:
                break
            try:
                tokens = await run_in_threadpool(self.check, sorted({w.key for w in waiting}))
            except (SQLAlchemyError, OSError) as exc:
                # The database is down: check less often (up to CHECK_BACKOFF_MAX), log once.
                if delay == self.interval:
                    log.warning("long-poll check failed", error=str(exc))
                delay = min(max(delay * 2, self.interval), CHECK_BACKOFF_MAX)
                continue
            if delay != self.interval:
                log.info("long-poll check recovered")
                delay = self.interval
            for waiter in waiting:
                if tokens.get(waiter.key) != waiter.token and not waiter.future.done():
                    waiter.future.set_result(None)
        self._task = None

    async def close(self) -> None:
        """Stop the checking task (waiters then time out)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class TokenBatcher:
    """Token reads of many concurrent requests, one query at a time (see the module docstring).

    ``read(keys)`` runs in one dedicated thread and returns the current token of each key
    (absent: the resource does not exist). A request arriving while a read is in flight waits
    for the next one, which starts after the current one ends: so its token is never older
    than the request, and the number of queries is bounded by one per round trip, however
    many requests arrive.
    """

    def __init__(self, read: Callable[[list[WatchKey]], dict[WatchKey, Token]]) -> None:
        self._read = read
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readpath-tokens")
        self._pending: dict[WatchKey, list[asyncio.Future[Token | None]]] = {}
        self._running = False
        self._task: asyncio.Task[None] | None = None

    async def token(self, key: WatchKey) -> Token | None:
        """The token of ``key`` from a read that began after this call."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Token | None] = loop.create_future()
        self._pending.setdefault(key, []).append(future)
        if not self._running:
            self._running = True
            self._task = loop.create_task(self._drain(loop))
        return await future

    async def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, {}
                try:
                    tokens = await loop.run_in_executor(self._executor, self._read, list(batch))
                except Exception as exc:  # every waiter gets the error (503 for a DB outage)
                    for futures in batch.values():
                        for future in futures:
                            if not future.done():
                                future.set_exception(exc)
                    continue
                for key, futures in batch.items():
                    for future in futures:
                        if not future.done():
                            future.set_result(tokens.get(key))
        finally:
            self._running = False

    def close(self) -> None:
        """Stop the reading thread."""
        self._executor.shutdown(wait=False, cancel_futures=True)


#: Computes an answer in the threadpool: ``(bytes, valid until (None: until a write))``.
Compute = Callable[[], tuple[bytes, datetime | None]]


class ReadPath:
    """The cache, the validity check's connection and the long-poll watcher of one process.

    Args:
        db: the app's database.
        cache_size: answers kept (LRU).
        check_interval: seconds between two token checks of waiting long-polls.
        max_waiters: long-polls held at once (more are answered at once).
        metrics: the app's metrics (answers by status, cache hits and misses, waiters).
    """

    def __init__(
        self,
        db: Database,
        *,
        cache_size: int,
        check_interval: float,
        max_waiters: int,
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.cache = ReadCache(cache_size)
        self.watcher = Watcher(self._tokens, check_interval, max_waiters)
        self.metrics = metrics
        if metrics is not None:
            metrics.long_poll_waiters.set_function(lambda: self.watcher.waiting)
        #: Answers being computed, per key and token: concurrent readers share one computation.
        self._computing: dict[tuple[Key, Token], asyncio.Future[Entry]] = {}
        self._connection: PoolProxiedConnection | None = None
        self._batch_connection: Connection | None = None
        self.batcher = TokenBatcher(self._batched_tokens) if db.backend == "postgresql" else None

    # -- the validity check ---------------------------------------------------------------------

    def _checking_connection(self) -> PoolProxiedConnection:
        if self._connection is None:
            # SQLite connections of ``make_engine`` are in autocommit (SQLAlchemy issues the
            # BEGINs): each check is one statement and one snapshot, no BEGIN/ROLLBACK.
            self._connection = self.db.engine.raw_connection()
        return self._connection

    def token(self, query: TokenQuery, *, team: str, name: str) -> Token | None:
        """The token of ``query`` for ``(team, name)``, read on this process's checking
        connection through the DBAPI cursor (event-loop thread; SQLite, where it is a local
        read). After a driver error the connection is dropped (opened again by the next check)
        and ``DBAPIError`` raised."""
        sql, positional = query.sql(self.db.engine.dialect)
        params: dict[str, str] = {"team": team, "name": name}
        driver_error = self.db.engine.dialect.loaded_dbapi.Error
        connection = self._checking_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(sql, tuple(params[n] for n in positional) if positional else params)
                return query.fold(cursor.fetchall())
            finally:
                cursor.close()
        except driver_error as exc:
            self._connection = None
            connection.invalidate()
            raise DBAPIError.instance(sql, params, exc, driver_error) from exc

    def _tokens(self, keys: list[WatchKey]) -> dict[WatchKey, Token]:
        with self.db.engine.connect() as connection:
            return _tokens_of(connection, keys)

    def _batched_tokens(self, keys: list[WatchKey]) -> dict[WatchKey, Token]:
        """``TokenBatcher``'s read, on its own autocommit connection (dropped after an error)."""
        if self._batch_connection is None:
            self._batch_connection = self.db.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            )
        try:
            return _tokens_of(self._batch_connection, keys)
        except SQLAlchemyError:
            self._batch_connection.invalidate()
            self._batch_connection.close()
            self._batch_connection = None
            raise

    def close(self) -> None:
        """Return the checking connections to the pool; stop the batcher's thread."""
        if self.batcher is not None:
            self.batcher.close()
        if self._batch_connection is not None:
            self._batch_connection.close()
            self._batch_connection = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    # -- answers --------------------------------------------------------------------------------

    async def current(self, key: Key, query: TokenQuery, compute: Compute) -> Entry:
        """The answer of ``key`` (``(kind, team, name, ...)``) now: cached when its token is
        unchanged, else computed. ``compute`` raises the domain error (``NotFound``...) when the
        resource is missing."""
        if self.batcher is not None:
            token = await self.batcher.token((key[0], key[1], key[2]))
        else:
            token = self.token(query, team=key[1], name=key[2])
        now = time.monotonic()
        cached = self.cache.get(key)
        hit = token is not None and cached is not None and cached.fresh(token, now)
        if self.metrics is not None:
            self.metrics.read_cache.labels(key[0], "hit" if hit else "miss").inc()
        if hit:
            assert cached is not None
            return cached
        if token is None:  # missing: ``compute`` raises the domain error; nothing to share
            return await self._compute(key, None, compute, now)
        # Single flight: the first reader of (key, token) computes, the others await it. The
        # computation is a task of its own, so a reader going away does not cancel the others.
        flight = (key, token)
        computing = self._computing.get(flight)
        if computing is None:
            computing = asyncio.ensure_future(self._compute(key, token, compute, now))
            self._computing[flight] = computing
            computing.add_done_callback(lambda done: self._landed(flight, done))
        return await asyncio.shield(computing)

    def _landed(self, flight: tuple[Key, Token], done: asyncio.Future[Entry]) -> None:
        if self._computing.get(flight) is done:
            del self._computing[flight]
        if not done.cancelled():
            done.exception()  # retrieved (its readers raise it), even if all went away

    async def _compute(self, key: Key, token: Token | None, compute: Compute, now: float) -> Entry:
        body, until = await run_in_threadpool(compute)
        expires = None
        if until is not None:
            expires = now + max((until - utcnow()).total_seconds(), 0.0)
        entry = Entry(token=token or (), body=body, etag=etag_of(body), expires=expires)
        if token is not None:
            self.cache.put(key, entry)
        return entry

    async def read(
        self,
        key: Key,
        query: TokenQuery,
        compute: Compute,
        *,
        if_none_match: str | None,
        wait: float,
        receive: Receive | None = None,
    ) -> Response:
        """The conditional, optionally long-polled answer of ``key`` (see the module docstring):
        200 with the body and ``ETag``, or 304 with the ``ETag`` and no body.

        ``If-None-Match: *`` matches any current answer: 304 at once, never held. ``receive``
        (the request's ASGI receive channel) ends a long-poll as soon as the client goes away
        (``http.disconnect``), freeing its slot."""
        deadline = time.monotonic() + wait
        watch: WatchKey = (key[0], key[1], key[2])
        gone: asyncio.Future[None] | None = None
        try:
            while True:
                entry = await self.current(key, query, compute)
                headers = {"ETag": entry.etag, "Cache-Control": CACHE_CONTROL}
                if not etag_matches(if_none_match, entry.etag):
                    self._count(key, 200)
                    return Response(entry.body, media_type="application/json", headers=headers)
                now = time.monotonic()
                remaining = deadline - now
                if remaining <= 0 or self.watcher.full() or _any(if_none_match):
                    self._count(key, 304)
                    return Response(status_code=304, headers=headers)
                if entry.expires is not None:
                    remaining = min(remaining, max(entry.expires - now, 0.001))
                if receive is None:
                    await self.watcher.wait(watch, entry.token, remaining)
                    continue
                if gone is None:
                    gone = asyncio.ensure_future(_disconnected(receive))
                waiting = asyncio.ensure_future(self.watcher.wait(watch, entry.token, remaining))
                await asyncio.wait((waiting, gone), return_when=asyncio.FIRST_COMPLETED)
                if not waiting.done():  # the client went away: free the slot now
                    waiting.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await waiting
                    return Response(status_code=304, headers=headers)
        finally:
            if gone is not None and not gone.done():
                gone.cancel()

    def _count(self, key: Key, status: int) -> None:
        if self.metrics is not None:
            self.metrics.read_answers.labels(key[0], str(status)).inc()


async def _disconnected(receive: Receive) -> None:
    """Return when the ASGI receive channel says the client disconnected."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _any(if_none_match: str | None) -> bool:
    """Whether ``If-None-Match`` lists ``*``."""
    return bool(if_none_match) and any(t.strip() == "*" for t in str(if_none_match).split(","))


def _tokens_of(connection: Connection, keys: list[WatchKey]) -> dict[WatchKey, Token]:
    """Tokens of service and model ``keys`` on ``connection``: one query per kind."""
    services = [(team, name) for kind, team, name in keys if kind == "service"]
    models = [(team, name) for kind, team, name in keys if kind == "model"]
    found: dict[WatchKey, Token] = {}
    for (team, name), token in generations.service_tokens(connection, services).items():
        found[("service", team, name)] = token
    for (team, name), token in generations.model_tokens(connection, models).items():
        found[("model", team, name)] = token
    return found


def json_bytes(model: Any) -> bytes:
    """A pydantic model's JSON as the API sends it (field names as declared, compact)."""
    data: bytes = model.model_dump_json(by_alias=True).encode()
    return data
