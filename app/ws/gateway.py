"""The WebSocket gateway: set a socket up, register it, then loop over its frames and dispatch them.

The handshake (origin, authentication, subprotocols) is app/ws/handshake.py, admission (set-up slots,
the socket quota) app/ws/admission.py, frame decoding and rate limiting app/ws/receive.py, the player's
next state app/ws/playback_control.py. Each client frame is handled by the same services as the REST
API, each call in its own short database session, through the `_group_frames` table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, cast

import msgspec
from litestar import Request, WebSocket
from litestar.connection import ASGIConnection

from app.domain.accounts.deps import bearer_token
from app.domain.accounts.services import AccountService, Principal
from app.domain.frames import PlaybackState, server_ms
from app.domain.messages.schemas import SendMessage
from app.domain.messages.services import MessageService, Sending
from app.domain.runtime import Runtime
from app.errors import DEPENDENCY_DOWN, AppError, Forbidden, RateLimited, ServiceUnavailable
from app.observability import metrics
from app.observability.context import bind_user
from app.observability.middleware import FRAME_SEND
from app.shutdown import before_worker_stops
from app.ws.admission import SETUP_SLOTS, admit
from app.ws.connection import Connection, next_id
from app.ws.fanout import CloseCode, Fanout
from app.ws.handshake import (
    COALESCING,
    authenticate,
    choose_subprotocol,
    member_groups,
    origin_allowed,
    refuse,
    unlink,
)
from app.ws.playback_control import next_state
from app.ws.presence import HEARTBEAT_SECONDS, MemoryPresence, PresenceStore, RedisPresence
from app.ws.protocol import (
    FRAME_MAX_BYTES,
    Ack,
    ClientFrame,
    ErrorFrame,
    PingFrame,
    PlaybackControl,
    Pong,
    Ready,
    ResumeFrame,
    SeenFrame,
    SendFrame,
    Subscribed,
    Typing,
    TypingFrame,
    VideoControlFrame,
)
from app.ws.reads import SharedReads
from app.ws.receive import FrameLimiter, decode_frame, errors_as_frames
from app.ws.registry import Registry
from app.ws.socket_quota import MemorySocketQuota, RedisSocketQuota, SocketQuota
from app.ws.sse import EventStream, StreamConnection, end, read_cursor, wait_for_end
from app.ws.typing_gate import TypingGate

log = logging.getLogger("huddle.ws")
SHUTDOWN_CLOSE_GRACE = 0.5  # seconds for close frames to go out before the server stops
CATCH_UP_BATCH = 500  # groups per store query in the upkeep loop
SYNC_READ_SLOTS = 4  # store reads for socket syncs at once per worker: leaves the pool to requests
CLOSE_TIMEOUT = 10.0  # a slow reader gets its close code once it drains; a dead one is dropped


class Gateway:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        settings = runtime.settings
        self.presence: PresenceStore = (
            RedisPresence(runtime.redis, settings.redis_key_prefix)
            if runtime.redis is not None
            else MemoryPresence()
        )
        self.quota: SocketQuota = (
            RedisSocketQuota(runtime.redis, settings.redis_key_prefix, settings.ws_sockets_per_user)
            if runtime.redis is not None
            else MemorySocketQuota(settings.ws_sockets_per_user)
        )
        self.playback = runtime.playback
        self.registry = Registry(runtime.broker, self.presence, runtime.events)
        self.fanout = Fanout(self.registry, runtime.events.grants)
        self.reads = SharedReads(runtime.messages, SYNC_READ_SLOTS, runtime.attachment_signer)
        self._admission = asyncio.Semaphore(SETUP_SLOTS)
        self.limiter = FrameLimiter(settings.ws_frames_per_second, settings.ws_frames_per_second * 3)
        self._typing = TypingGate()
        # What each group-scoped client frame does (ping and resume are the socket's own).
        self._group_frames: dict[type[Any], Callable[[Connection, Any, int], Awaitable[None]]] = {
            TypingFrame: self._on_typing,
            SendFrame: self._start_send,
            SeenFrame: self._on_seen,
            VideoControlFrame: self._on_video_control,
        }
        self._heartbeat: asyncio.Task[None] | None = None
        # Set once the worker is told to stop: a stream opened after the 1012s went out would hold
        # the worker for Granian's whole graceful timeout (it waits for HTTP responses to finish;
        # sockets it drops), and the client would think itself connected to a server going away.
        self.stopping = False

    async def start(self) -> None:
        reconnect = getattr(self.runtime.broker, "on_reconnect", "absent")
        if reconnect != "absent":
            self.runtime.broker.on_reconnect = self.registry.resync_all  # type: ignore[attr-defined]
        if getattr(self.runtime.broker, "on_moved", "absent") != "absent":
            # Sharded: only what was on a lost shard may have missed something.
            self.runtime.broker.on_moved = self.registry.resync  # type: ignore[attr-defined]
        await self.runtime.broker.start(self.fanout.on_payload)
        await self.registry.start()
        self._heartbeat = asyncio.get_running_loop().create_task(self._beat())
        before_worker_stops(self._closing, SHUTDOWN_CLOSE_GRACE)

    def _closing(self) -> None:
        self.stopping = True
        self.registry.close_all(CloseCode.RESTART, "server restarting")

    async def _beat(self) -> None:
        """Upkeep every few seconds: renew presence and the socket counts, close the sockets of
        sessions that ended, and catch up sockets a lost publish left behind."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            metrics.flush_frames_sent()
            try:
                await self.presence.heartbeat(self.registry.local_presence())
                sockets = self.registry.by_user.values()
                await self.quota.heartbeat((c.user_id, c.id) for each in sockets for c in each)
            except Exception as error:  # noqa: BLE001 -- retried on the next beat
                log.warning("presence heartbeat failed: %s", type(error).__name__)
            try:
                await self.end_finished_sessions()
            except Exception as error:  # noqa: BLE001 -- retried on the next beat
                log.warning("session check failed: %s", type(error).__name__)
            try:
                groups = list(self.registry.by_group)
                latest: dict[int, int] = {}
                for start in range(0, len(groups), CATCH_UP_BATCH):
                    found = await self.runtime.messages.latest(groups[start : start + CATCH_UP_BATCH])
                    latest.update({group_id: message.seq for group_id, message in found.items()})
                if behind := self.registry.catch_up(latest):
                    log.warning("caught up %d socket feed(s) that missed a publish", behind)
            except Exception as error:  # noqa: BLE001 -- retried on the next beat
                log.warning("catch-up check failed: %s", type(error).__name__)

    async def end_finished_sessions(self) -> None:
        """Close every socket whose session is over (revoked, expired, its account gone), in case
        the broadcast that should have closed it was lost or never sent (an expiry sends none)."""
        by_session: dict[uuid.UUID, list[Connection]] = {}
        for sockets in self.registry.by_user.values():
            for connection in sockets:
                by_session.setdefault(connection.principal.session_id, []).append(connection)
        sessions = list(by_session)
        for start in range(0, len(sessions), CATCH_UP_BATCH):
            async with self.runtime.sessions() as db:
                ended = await AccountService(db, self.runtime).ended_sessions(
                    sessions[start : start + CATCH_UP_BATCH]
                )
            for session_id in ended:
                for connection in by_session[session_id]:
                    connection.close(CloseCode.UNAUTHORIZED, "session ended: sign in again")

    async def stop(self) -> None:
        """Shutdown: every socket closes with 1012 so clients reconnect (to another worker)."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        self._closing()
        for _ in range(50):  # up to 1 s for endpoints to send their close frames
            if not self.registry.by_user:
                break
            await asyncio.sleep(0.02)
        metrics.flush_frames_sent()

    def stats(self) -> dict[str, int]:
        return {**self.registry.stats(), "delivered_frames": self.fanout.delivered}

    # -- handshake ---------------------------------------------------------------------------------

    def origin_allowed(self, socket: ASGIConnection[Any, Any, Any, Any]) -> bool:
        return origin_allowed(self.runtime.settings.ws_allowed_origins, socket)

    async def set_up(self, socket: WebSocket[Any, Any, Any]) -> tuple[Principal, list[int]]:
        """The socket's user and groups, in one database session (a thousand sockets connecting at
        once pay a pool checkout and a transaction each, not two)."""
        async with self.runtime.sessions() as db:
            principal = await authenticate(socket, AccountService(db, self.runtime))
            return principal, await member_groups(db, principal.user_id)

    async def member_groups(self, user_id: int) -> list[int]:
        async with self.runtime.sessions() as db:
            return await member_groups(db, user_id)

    # -- one event stream (app/ws/sse.py) ---------------------------------------------------------

    async def open_stream(
        self, request: Request[Any, Any, Any], ticket: str | None, cursor: str | None
    ) -> EventStream:
        """Everything a stream can be refused for is answered before it starts, as an HTTP error."""
        if not self.origin_allowed(request):
            raise Forbidden("Origin not allowed")
        if self.stopping:
            raise ServiceUnavailable("The server is restarting", headers={"Retry-After": "1"})
        positions = read_cursor(request.headers.get("last-event-id") or cursor)
        async with self._admission, self.runtime.sessions() as db:
            accounts = AccountService(db, self.runtime)
            if ticket:
                principal = await accounts.redeem_ticket(ticket)
            else:
                principal = await accounts.authenticate(bearer_token(request.headers.get("authorization")))
            groups = await member_groups(db, principal.user_id)
        connection_id = next_id()
        if not await self._admit(principal.user_id, connection_id):
            raise RateLimited(HEARTBEAT_SECONDS, "Too many open sockets and streams for this user")
        bind_user(principal.user_id)
        return EventStream(self, principal, groups, positions, connection_id)

    async def stream(self, response: EventStream, scope: Any, receive: Any, send: Any) -> None:
        settings = self.runtime.settings
        write = scope.get(FRAME_SEND) or send  # chunks straight to the server, as socket frames
        connection = StreamConnection(
            write,
            response.principal,
            self.reads,
            queue_size=settings.ws_send_queue,
            on_left=self.registry.left,
            initial_messages=settings.ws_initial_messages,
            resume_limit=settings.ws_resume_limit,
            follows_all=True,
            coalesce=True,
            connection_id=response.connection_id,
        )
        await self.registry.add(connection)
        if self.stopping:  # opened as the worker was told to stop: resume elsewhere
            connection.close(CloseCode.RESTART, "server restarting")
        try:
            connection.push(response.first_chunk())
            connection.push_event(
                Ready(user_id=connection.user_id, groups=response.groups, server_time=server_ms())
            )
            wanted = {group_id: response.positions.get(group_id) for group_id in response.groups}
            await self._subscribe(connection, wanted, response.groups)
            connection.start()
            await wait_for_end(connection, receive)
        except DEPENDENCY_DOWN as error:
            log.warning("stream failed on a backing service (%s); the client resumes", type(error).__name__)
            connection.close(CloseCode.TRY_AGAIN_LATER, "server busy: reconnect and resume")
        finally:
            await self.registry.remove(connection)
            connection.stop_feeds()
            with contextlib.suppress(Exception):  # best effort: the entry expires on its own
                await self.quota.give_back(connection.user_id, connection.id)
            await end(connection, write, CLOSE_TIMEOUT)

    # -- one socket --------------------------------------------------------------------------------

    async def serve(
        self, socket: WebSocket[Any, Any, Any], group_id: int | None, last_seq: int | None
    ) -> None:
        try:
            await self._serve(socket, group_id, last_seq)
        finally:
            unlink(socket)

    async def refuse(self, socket: WebSocket[Any, Any, Any], code: int, reason: str) -> None:
        """Close a socket whose URL no request could satisfy, with a code the client can read."""
        try:
            if not self.origin_allowed(socket):
                await socket.close(code=CloseCode.ORIGIN, reason="origin not allowed")
                return
            await refuse(socket, choose_subprotocol(socket), code, reason)
        finally:
            unlink(socket)

    async def _serve(
        self, socket: WebSocket[Any, Any, Any], group_id: int | None, last_seq: int | None
    ) -> None:
        if not self.origin_allowed(socket):
            await socket.close(code=CloseCode.ORIGIN, reason="origin not allowed")  # before accept: a 403
            return
        subprotocol = choose_subprotocol(socket)
        try:
            # A thousand clients reconnecting at once queue here instead of all asking the database
            # at the same moment and timing out of its pool.
            async with self._admission:
                principal, groups = await self.set_up(socket)
        except AppError as error:
            await refuse(socket, subprotocol, CloseCode.UNAUTHORIZED, error.detail[:120])
            return
        except DEPENDENCY_DOWN as error:
            log.warning("socket set-up failed (%s); the client is asked to retry", type(error).__name__)
            await refuse(socket, subprotocol, CloseCode.TRY_AGAIN_LATER, "server busy: reconnect shortly")
            return
        except Exception:
            # A socket's 500: closed before the handshake, it would reach the client as a 403.
            log.exception("socket set-up failed")
            await refuse(socket, subprotocol, CloseCode.INTERNAL, "server error: reconnect later")
            return
        if group_id is not None and group_id not in groups:
            await refuse(socket, subprotocol, CloseCode.NOT_FOUND, "group not found")
            return
        bind_user(principal.user_id)
        settings = self.runtime.settings
        connection = Connection(
            socket.scope[FRAME_SEND],  # type: ignore[literal-required]
            principal,
            self.reads,
            queue_size=settings.ws_send_queue,
            on_left=self.registry.left,
            initial_messages=settings.ws_initial_messages,
            resume_limit=settings.ws_resume_limit,
            follows_all=group_id is None,
            coalesce=subprotocol == COALESCING,
            # The seed's socket speaks the seed's vocabulary unless the client asks for more.
            seed_only=group_id is not None
            and subprotocol is None
            and socket.query_params.get("events") != "all",
        )
        if not await self._admit(connection.user_id, connection.id):
            await refuse(
                socket, subprotocol, CloseCode.TOO_MANY_SOCKETS, "too many open sockets for this user"
            )
            return
        await self.registry.add(connection)
        try:
            connection.push_event(Ready(user_id=principal.user_id, groups=groups, server_time=server_ms()))
            if group_id is not None:
                # Before the handshake completes: once the client sees the socket open, it is
                # subscribed, so nothing sent from then on can pass it by as history.
                await self._subscribe(connection, {group_id: last_seq}, groups)
            await socket.accept(subprotocols=subprotocol)
            connection.start()
            await self._receive_loop(socket, connection, group_id, groups)
        except DEPENDENCY_DOWN as error:
            log.warning(
                "socket failed on a backing service (%s); the client is asked to resume", type(error).__name__
            )
            connection.close(CloseCode.TRY_AGAIN_LATER, "server busy: reconnect and resume")
        finally:
            await self.registry.remove(connection)
            connection.stop_feeds()
            with contextlib.suppress(Exception):  # best effort: the entry expires on its own
                await self.quota.give_back(connection.user_id, connection.id)
            code = connection.close_code or CloseCode.NORMAL
            with contextlib.suppress(Exception):  # the client may be gone
                if not connection.started:  # it failed before the handshake completed
                    await refuse(socket, subprotocol, code, connection.close_reason)
                # A client that stopped reading cannot take the close frame either: bound the wait.
                elif await connection.finish(CLOSE_TIMEOUT) and socket.connection_state != "disconnect":
                    async with asyncio.timeout(CLOSE_TIMEOUT):  # no task: see _unlink
                        await socket.close(code=code, reason=connection.close_reason)

    async def _admit(self, user_id: int, connection_id: int) -> bool:
        return await admit(self.quota, user_id, connection_id)

    async def _receive_loop(
        self,
        socket: WebSocket[Any, Any, Any],
        connection: Connection,
        group_id: int | None,
        groups: list[int],
    ) -> None:
        idle = self.runtime.settings.ws_idle_timeout_seconds
        strikes = 0
        receive = asyncio.ensure_future(socket.receive())
        closing: asyncio.Future[Any] = connection.when_closed()  # never cancelled: shared
        try:
            while True:
                done, _ = await asyncio.wait(
                    {receive, closing}, timeout=idle, return_when=asyncio.FIRST_COMPLETED
                )
                if closing in done:
                    return
                if not done:
                    connection.close(CloseCode.IDLE, f"idle: nothing received for {idle} s")
                    return
                message = receive.result()
                if message["type"] == "websocket.disconnect":
                    return
                receive = asyncio.ensure_future(socket.receive())
                text = cast("str | None", message.get("text"))
                if text is None:
                    connection.push_frame(ErrorFrame(code="binary_frame", detail="send JSON text frames"))
                    continue
                if len(text) > FRAME_MAX_BYTES or len(text.encode()) > FRAME_MAX_BYTES:
                    connection.close(CloseCode.TOO_BIG, "frame over 64 KiB")
                    return
                if not self.limiter.allow(connection.user_id):
                    strikes += 1
                    connection.push_frame(
                        ErrorFrame(code="rate_limited", detail="too many frames; slow down")
                    )
                    if strikes > self.runtime.settings.ws_frames_per_second * 5:
                        connection.close(CloseCode.FLOOD, "frame flood")
                        return
                    continue
                if self.limiter.calm(connection.user_id):
                    strikes = 0
                metrics.frames_received()
                await self._handle(connection, text, group_id, groups)
        finally:
            receive.cancel()

    async def _handle(
        self, connection: Connection, text: str, default_group: int | None, groups: list[int]
    ) -> None:
        try:
            frame = decode_frame(text)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            # ValidationError subclasses DecodeError: test it first.
            code = "invalid_frame" if isinstance(error, msgspec.ValidationError) else "invalid_json"
            connection.push_frame(ErrorFrame(code=code, detail=str(error)[:300]))
            return
        client_msg_id = frame.client_msg_id if isinstance(frame, SendFrame) else None
        with errors_as_frames(connection, client_msg_id):
            await self._dispatch(connection, frame, default_group, groups)

    async def _dispatch(
        self, connection: Connection, frame: ClientFrame, default_group: int | None, groups: list[int]
    ) -> None:
        if isinstance(frame, PingFrame):
            connection.push_frame(Pong(t=frame.t, server_time=server_ms()))
            return
        if isinstance(frame, ResumeFrame):
            if default_group is not None and set(frame.groups) - {default_group}:
                raise AppError("This socket follows one group; use /ws for more")
            groups[:] = await self.member_groups(connection.user_id)
            await self._subscribe(connection, frame.groups, groups)
            return
        group_id = getattr(frame, "group_id", None) or default_group
        if group_id is None:
            raise AppError("group_id is required on /ws")
        await self._group_frames[type(frame)](connection, frame, group_id)

    async def _on_typing(self, connection: Connection, frame: TypingFrame, group_id: int) -> None:
        await self._typing_event(connection, group_id, frame.active)

    async def _on_seen(self, connection: Connection, frame: SeenFrame, group_id: int) -> None:
        principal = connection.principal
        await self._with_messages(lambda m: m.mark_read(principal, group_id, frame.seq))

    async def _on_video_control(
        self, connection: Connection, frame: VideoControlFrame, group_id: int
    ) -> None:
        await self.video_control(connection.principal, group_id, frame)

    async def _start_send(self, connection: Connection, frame: SendFrame, group_id: int) -> None:
        """Queue the message, then read the next frame while it is written: a client's messages are
        committed together and in the order sent, and each is acknowledged once it is."""
        body = SendMessage(
            text=frame.text,
            client_msg_id=frame.client_msg_id,
            reply_to=frame.reply_to,
            attachment_ids=frame.attachment_ids,
        )
        principal = connection.principal
        await connection.send_slots.acquire()  # a client has at most SENDS_IN_FLIGHT unacknowledged
        try:
            sending = await self._with_messages(lambda m: m.start_send(principal, group_id, body))
        except BaseException:
            connection.send_slots.release()
            raise
        connection.spawn(self._acknowledge(connection, frame.client_msg_id, sending))

    async def _acknowledge(self, connection: Connection, client_msg_id: str | None, sending: Sending) -> None:
        try:
            with errors_as_frames(connection, client_msg_id):
                message, _ = await self._with_messages(lambda m: m.sent(sending))
                connection.push_event(
                    Ack(
                        client_msg_id=client_msg_id, id=message.id, seq=message.seq, group_id=message.group_id
                    )
                )
        except Exception:
            log.exception("a send failed unexpectedly; closing the socket so the client resumes")
            connection.close(CloseCode.INTERNAL, "send failed: reconnect and resume")
        finally:
            connection.send_slots.release()

    async def _with_messages(self, call: Callable[[MessageService], Awaitable[Any]]) -> Any:
        async with self.runtime.sessions() as db:
            return await call(MessageService(db, self.runtime))

    async def _subscribe(
        self, connection: Connection, wanted: dict[int, int | None], groups: list[int]
    ) -> None:
        for group_id, last_seq in wanted.items():
            if group_id not in groups:
                connection.push_frame(ErrorFrame(code="not_found", detail=f"Group {group_id} not found"))
                continue
            latest_seq = await self.reads.latest_seq(group_id, since=-1)  # informative: any read will do
            state: PlaybackState | None = None
            try:
                online = await self.presence.online(group_id)
            except Exception:  # noqa: BLE001 -- best effort while Redis is down
                online = []
            if connection.user_id not in online:
                online = sorted([*online, connection.user_id])
            connection.push_event(Subscribed(group_id=group_id, latest_seq=latest_seq, online=online))
            with contextlib.suppress(Exception):  # best effort while Redis is down
                state = await self.playback.get(group_id)
            if state is not None:
                connection.push_event(msgspec.structs.replace(state, server_time=server_ms()))
            await self.registry.follow(connection, group_id, last_seq)

    async def _typing_event(self, connection: Connection, group_id: int, active: bool) -> None:
        if group_id not in connection.feeds:
            raise AppError("Subscribe to the group first")
        await self.typing(connection.principal, group_id, active=active)

    async def typing(self, principal: Principal, group_id: int, *, active: bool = True) -> None:
        """A member is typing, or stopped (socket frame, `POST`/`DELETE .../typing`), if the gate lets
        the signal through (app/ws/typing_gate.py)."""
        if not self._typing.allow(principal.user_id, group_id, active=active):
            return
        user = principal.user
        name = user.display_name or user.name
        await self.runtime.events.to_group(
            group_id, Typing(group_id=group_id, user_id=user.id, user_name=name, active=active)
        )

    async def video_control(
        self, principal: Principal, group_id: int, frame: PlaybackControl
    ) -> PlaybackState:
        """A playback control (socket frame or `POST .../playback`): stored as a seed `video_control`
        message (ordered with the chat, replayed on resume), and the group's playback state kept,
        stamped with server time."""
        previous = await self.playback.get(group_id)
        await self._with_messages(
            lambda m: m.video_control(
                principal, group_id, frame.video_action, frame.video_name, frame.video_time
            )
        )
        state = next_state(previous, group_id, frame, principal.user_id, server_ms())
        await self.playback.put(state)
        await self.runtime.events.to_group(group_id, state)
        return state
