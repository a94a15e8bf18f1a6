"""uvicorn's websockets-sansio protocol, hardened so that one hostile client costs only itself.

What it adds to ``WebSocketsSansIOProtocol``:

- every inbound chunk is scanned for frame headers (``live.wire``) before websockets parses
  it; past the connection's wire budget the client is sent 1008 and the socket is closed,
  and nothing of the chunk is parsed or queued for the app;
- a pong (written by the protocol itself, outside the app's outbox) that leaves more than
  the write bound unsent drops the socket: a client that pings and never reads cannot grow
  the server's memory;
- a deadline for the opening handshake, handed over from the HTTP protocol with the
  connection's per-address lease (released once, in ``connection_lost``);
- invalid UTF-8 is logged as one line at most every 10 s, not a traceback per frame;
- every close this side starts is followed by an abort if the socket has not gone within a
  grace period: ``transport.close()`` waits for unsent bytes, forever if the peer never reads;
- the opening handshake starts from the request the HTTP protocol already parsed
  (``open_parsed``, ``live.ws_request``), not from bytes written back out and parsed again;
- the common opening (``live.ws_handshake``) and a client's chunks of whole small text frames
  (``live.wsframe.client_text_frames``) are handled without websockets' request, response and
  frame objects, with the same results; anything else goes through websockets;
- pre-built frames (``live.wsframe``) go straight to the transport (``write_frame``): the hub
  builds a room's frame once and every viewer's socket gets the same bytes, where uvicorn's ASGI
  send would frame the message again per socket and cost twice the time (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
from asyncio import TimerHandle
from collections.abc import Iterable
from typing import Any, ClassVar
from urllib.parse import unquote

from uvicorn.protocols.utils import ClientDisconnected, get_client_addr, get_path_with_query_string
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import Protocol, State
from websockets.server import ServerProtocol

from live import closecodes
from live.admission import Lease, TransportLimits
from live.log_throttle import LogThrottle
from live.wire import WireGuard
from live.ws_handshake import QuickOpening, quick_opening, switching_protocols
from live.ws_request import Refusal, opening_request
from live.wsframe import client_text_frames

log = logging.getLogger("live.ws")

CUT_OFF_GRACE_S = 1.0  # a client we cut off gets this long to take the close frame
SHUTDOWN_GRACE_S = (
    2.0  # below uvicorn's graceful-shutdown timeout (live/server.py), so it need not wait it out
)
READ_AHEAD_MESSAGES = 8  # client messages queued for the app before the socket stops being read
_invalid_utf8_log = LogThrottle(10.0)  # per process: any client can send invalid UTF-8 at will


# websockets 15 split max_size into a message and a fragment limit and renamed cur_size.
_SPLIT_LIMITS = hasattr(ServerProtocol(), "current_size")


def _frame_reading(conn: ServerProtocol) -> tuple[bool, int | None]:
    """(no fragmented message is open and no fragment limit applies, the largest message)."""
    if _SPLIT_LIMITS:
        return conn.current_size is None and conn.max_fragment_size is None, conn.max_message_size
    return getattr(conn, "cur_size", None) is None, getattr(conn, "max_size", None)


class LiveWebSocketProtocol(WebSocketsSansIOProtocol):
    limits: ClassVar[TransportLimits] = TransportLimits()

    @classmethod
    def configured(cls, limits: TransportLimits) -> type[LiveWebSocketProtocol]:
        """This class bound to one process's limits (uvicorn builds protocols from a class)."""
        return type(cls.__name__, (cls,), {"limits": limits})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wire = WireGuard(self.limits.wire_frames_per_s, self.limits.wire_frames_burst)
        self._lease: Lease | None = None
        self._handshake_timer: TimerHandle | None = None
        self._abort_timer: TimerHandle | None = None
        self._quick_accept: str | None = None  # Sec-WebSocket-Accept of a quick opening, until accepted

    # Life cycle

    def adopt(self, lease: Lease | None, handshake_deadline_s: float | None) -> None:
        """Take over the HTTP connection's lease and handshake deadline after the upgrade.

        The deadline is armed here, not in ``connection_made``: every socket of this class comes
        from ``LiveHttpProtocol``'s upgrade, and one timer per join is cheaper than two."""
        self._lease = lease
        timeout = self.limits.handshake_timeout_s
        if handshake_deadline_s is None and timeout > 0:
            handshake_deadline_s = self.loop.time() + timeout
        if handshake_deadline_s is not None:
            self._arm_handshake_deadline(handshake_deadline_s)
        if self.disconnected and lease is not None:
            lease.release()

    def open_parsed(self, method: str, target: bytes, headers: Iterable[tuple[bytes, bytes]]) -> None:
        """Start the opening handshake with a request uvicorn's HTTP parser has parsed.

        In place of ``data_received`` of the request's bytes: websockets' parser is moved past
        the request to the frames, and the request is accepted or refused as websockets would.
        """
        headers = list(headers)
        quick = None if self.conn.available_extensions else quick_opening(method, target, headers)
        if quick is None:
            self.open_through_websockets(method, target, headers)
        else:
            self._open_quick(quick, target, headers)

    def open_through_websockets(self, method: str, target: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        """``open_parsed`` for any opening ``live.ws_handshake`` does not answer itself."""
        request = opening_request(method, target, headers)
        if isinstance(request, Refusal):
            self.handshake_complete = True
            self.close_sent = True
            text = f"Failed to open a WebSocket connection: {request.reason}.\n"
            self.transport.write(self.conn.reject(request.status, text).serialize())
            self.transport.close()
            return
        self._parse_frames_from_now()
        self.handle_connect(request)

    def _parse_frames_from_now(self) -> None:
        """websockets' parser moved past the request (uvicorn parsed it) to the frames."""
        self.conn.parser = Protocol.parse(self.conn)
        next(self.conn.parser)  # start the generator: it waits for the first frame's bytes

    def _open_quick(self, quick: QuickOpening, target: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        """``handle_connect`` for the common opening (``live.ws_handshake``): the same scope, the
        same state, without websockets' request and response objects."""
        self._parse_frames_from_now()
        self.conn.accept_called = True
        self.conn.origin = quick.origin  # type: ignore[assignment]
        self._quick_accept = quick.accept
        self.handshake_initiated = True
        raw_path, _, query_string = target.partition(b"?")
        self.scope = {
            "type": "websocket",
            "asgi": {"version": self.asgi_version, "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": self.scheme,
            "server": self.server,
            "client": self.client,
            "root_path": self.root_path,
            "path": self.root_path + unquote(raw_path.decode("ascii")),
            "raw_path": self.root_path.encode("ascii") + raw_path,
            "query_string": query_string,
            "headers": headers,
            "subprotocols": [],
            "state": self.app_state.copy(),
            "extensions": {"websocket.http.response": {}},
        }
        self.queue.put_nowait({"type": "websocket.connect"})
        task = self.loop.create_task(self.run_asgi())
        task.add_done_callback(self.on_task_complete)
        self.tasks.add(task)

    async def send(self, message: Any) -> None:
        accept = self._quick_accept
        if accept is None or message["type"] != "websocket.accept":
            await super().send(message)
            return
        # uvicorn's accept, for an opening made by _open_quick (it has no websockets response).
        self._quick_accept = None
        await self.writable.wait()
        if self.disconnected:
            raise ClientDisconnected()
        if self.handshake_complete or self.initial_response is not None:
            await super().send(message)  # uvicorn's answer to an accept out of turn
            return
        if self.logger.isEnabledFor(logging.INFO):
            client, path = get_client_addr(self.scope), get_path_with_query_string(self.scope)
            self.logger.info('%s - "WebSocket %s" [accepted]', client, path)
        if not self.transport.is_closing():
            self.handshake_complete = True
            self.conn.state = State.OPEN
            self.conn.logger.info("connection open")  # as websockets' send_response logs it
            response = switching_protocols(
                accept, self.default_headers, message.get("headers", ()), message.get("subprotocol")
            )
            self.transport.write(response)
            self.start_keepalive()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._handshake_timer, self._abort_timer):
            if timer is not None:
                timer.cancel()
        self._handshake_timer = self._abort_timer = None
        if self._lease is not None:
            self._lease.release()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        if self.handshake_complete and not self.close_sent and self.conn.state is not State.OPEN:
            # The client's close is in: uvicorn's own shutdown() would raise InvalidState on
            # send_close here, and the exception would stop the server telling the viewers after
            # this one about the shutdown.
            self.stop_keepalive()
            self.transport.close()
        else:
            super().shutdown()  # close 1012 to the client, disconnect 1012 to the app
        self._abort_after(SHUTDOWN_GRACE_S)

    async def run_asgi(self) -> None:
        await super().run_asgi()
        # uvicorn closes the transport now or after its close timeout; either waits on a peer
        # that may never read.
        self._abort_after(self.close_timeout + 1.0)

    def keepalive_timeout(self) -> None:
        super().keepalive_timeout()
        self._abort_after(CUT_OFF_GRACE_S)

    def handle_parser_exception(self) -> None:
        super().handle_parser_exception()
        self._abort_after(CUT_OFF_GRACE_S)

    # Outbound: pre-built frames (live.connection.FrameSink)

    def frame_ready(self) -> bool:
        """A frame written now goes out in order and at once: open, not closing, not paused."""
        return (
            self.handshake_complete
            and self.writable.is_set()
            and not self.close_sent
            and not self.disconnected
            and self.initial_response is None
        )

    def write_frame(self, frame: bytes) -> bool:
        """Write one or more whole pre-built frames; False once the socket takes no more.

        Never awaits: a paused transport buffers the bytes, and the caller's bound counts them
        (``write_buffer_size``). The websockets state machine need not hear of these frames: a
        server's outgoing data frames carry no state it keeps (no masking, no fragmentation).
        """
        if self.close_sent or self.disconnected or self.transport.is_closing():
            return False
        self.transport.write(frame)
        return True

    def write_buffer_size(self) -> int:
        return int(self.transport.get_write_buffer_size())

    async def wait_writable(self) -> None:
        """Until the transport drains below its low-water mark, or the socket is lost."""
        await self.writable.wait()

    # Inbound

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return  # cut off: what is still in flight is not worth parsing
        if not self.handshake_initiated:
            super().data_received(data)
            return
        at_frame_start = self._wire.at_frame_start
        if not self._wire.admit(data, self.loop.time()):
            self._cut_off(closecodes.POLICY_FLOOD, "too many frames")
            return
        # Whole small text frames from an open socket, with websockets' parser waiting for a
        # frame (it has taken every byte before this chunk, and no fragmented message is open):
        # read here, to the app as websockets would hand them (live.wsframe).
        between_messages, max_size = _frame_reading(self.conn)
        if at_frame_start and between_messages and self.conn.state is State.OPEN:
            payloads = client_text_frames(data, max_size)
            if payloads is not None:
                for payload in payloads:
                    self.curr_msg_data_type = "text"
                    self.frames = [payload]
                    self.send_receive_event_to_app()
                return
        super().data_received(data)

    def send_receive_event_to_app(self) -> None:
        # uvicorn's own, except for the invalid UTF-8 branch (a traceback per frame there).
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            return
        message: Any
        if self.curr_msg_data_type == "text":
            try:
                message = {"type": "websocket.receive", "text": data.decode()}
            except UnicodeDecodeError:
                self._invalid_utf8()
                return
        else:
            message = {"type": "websocket.receive", "bytes": data}
        self.queue.put_nowait(message)
        # uvicorn pauses reading at every message and resumes once the app took it: two
        # epoll_ctl calls per frame. A few queued messages bound memory just as well.
        if not self.read_paused and self.queue.qsize() >= READ_AHEAD_MESSAGES:
            self.read_paused = True
            self.transport.pause_reading()

    def handle_ping(self) -> None:
        if self.transport.is_closing():
            return  # the rest of a chunk that got this client cut off
        super().handle_ping()
        # The pong went straight to the transport; the app's outbox never saw it.
        limit = self.limits.write_buffer_max_bytes
        if limit and self.transport.get_write_buffer_size() > limit:
            self._drop(closecodes.TOO_SLOW, "not reading")

    # Cutting a client off

    def _invalid_utf8(self) -> None:
        left_out = _invalid_utf8_log.allow(self.loop.time())
        if left_out is not None:
            log.warning(
                "invalid UTF-8 in a text frame from %s; closed 1007 (%d more since the last line)",
                self.client[0] if self.client else "?",
                left_out,
            )
        if self.conn.state is State.OPEN:
            self.conn.send_close(closecodes.INVALID_UTF8, "invalid UTF-8")
            self.handle_parser_exception()
        else:
            self._drop(closecodes.INVALID_UTF8, "invalid UTF-8")

    def _forget_unread(self) -> None:
        """Drop messages the app has not read yet: it is told of the disconnect next, not last."""
        kept = []
        while not self.queue.empty():
            message = self.queue.get_nowait()
            if message["type"] != "websocket.receive":
                kept.append(message)
        for message in kept:
            self.queue.put_nowait(message)

    def _cut_off(self, code: int, reason: str) -> None:
        """Tell the client why, close, and abort if the close frame is not taken soon."""
        self._forget_unread()
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        if self.conn.state is State.OPEN:
            self.conn.send_close(code, reason)
            self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()
        self._abort_after(CUT_OFF_GRACE_S)

    def _drop(self, code: int, reason: str) -> None:
        """Abort at once: the socket does not drain, so a close frame would never get through."""
        self._forget_unread()
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.close_sent = True
        self.transport.abort()

    def _abort_after(self, delay_s: float) -> None:
        if self._abort_timer is None and not self.disconnected:
            self._abort_timer = self.loop.call_later(delay_s, self._abort_now)

    def _abort_now(self) -> None:
        self._abort_timer = None
        if not self.disconnected:
            self.transport.abort()

    def _arm_handshake_deadline(self, deadline_s: float) -> None:
        self._handshake_timer = self.loop.call_at(deadline_s, self._handshake_expired)

    def _handshake_expired(self) -> None:
        self._handshake_timer = None
        if self.handshake_complete or self.transport.is_closing():
            return
        self.send_500_response()
        self.close_sent = True
        self.transport.close()
        self._abort_after(CUT_OFF_GRACE_S)
