"""A minimal Chrome DevTools Protocol client on the standard library (no extra packages).

Enough WebSocket (RFC 6455) to send commands to a page target and read its events:
masked client frames, unmasked server frames of any length, fragmented messages.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
from typing import Any
from urllib.parse import urlparse


class CDPError(RuntimeError):
    """The browser answered a command with an error, or did not answer in time."""


class CDP:
    """One WebSocket connection to a DevTools target; ``send`` waits for the answer."""

    def __init__(self, ws_url: str, timeout: float = 30.0) -> None:
        url = urlparse(ws_url)
        self.sock = socket.create_connection((url.hostname, url.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {url.path} HTTP/1.1\r\nHost: {url.hostname}:{url.port}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                           ).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise CDPError("DevTools closed the connection during the handshake")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise CDPError(f"WebSocket handshake refused: {head[:200]!r}")
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _recv_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise CDPError("DevTools connection closed")
            buf += chunk
        return buf

    def _recv_message(self) -> dict[str, Any]:
        parts = []
        while True:
            b0, b1 = self._recv_exact(2)
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack(">H", self._recv_exact(2))
            elif n == 127:
                (n,) = struct.unpack(">Q", self._recv_exact(8))
            payload = self._recv_exact(n)
            opcode = b0 & 0x0F
            if opcode == 8:
                raise CDPError("DevTools closed the connection")
            if opcode in (0, 1, 2):
                parts.append(payload)
                if b0 & 0x80:
                    return json.loads(b"".join(parts))

    def _send_frame(self, data: bytes) -> None:
        mask = os.urandom(4)
        n = len(data)
        head = bytes([0x81])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(head + mask + masked)

    def send(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        """Send a command; return its ``result``, collecting events meanwhile."""
        self.next_id += 1
        msg_id = self.next_id
        self._send_frame(json.dumps({"id": msg_id, "method": method, "params": params}).encode())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self._recv_message()
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise CDPError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)
        raise CDPError(f"{method}: no answer in {timeout} s")

    def wait_for(self, method: str, timeout: float = 30.0) -> dict[str, Any]:
        """Wait for an event (or find it among those already received)."""
        for ev in self.events:
            if ev.get("method") == method:
                return ev
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self._recv_message()
            self.events.append(msg)
            if msg.get("method") == method:
                return msg
        raise CDPError(f"no {method} event in {timeout} s")

    def close(self) -> None:
        self.sock.close()
