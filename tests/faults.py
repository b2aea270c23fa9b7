"""A loopback TCP fault proxy: the network failing at the worst moment, for real.

``FaultProxy(upstream_port, marker)`` listens on 127.0.0.1 and forwards every
connection to ``upstream_port``. Once the client has sent ``marker`` on a
connection (a request line, the end of an SMTP DATA), the server's next reply is
*swallowed* and the client's socket closed: the server did the work, the client
never hears so. That is the case "the connection dropped after the server
accepted the message", which must never lead to a second copy.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class FaultProxy:
    def __init__(self, upstream_port: int, marker: bytes, times: int = 1) -> None:
        self.upstream_port = upstream_port
        self.marker = marker
        self.times = times
        self.cut = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(32)
        self._server.settimeout(0.2)
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
        armed = threading.Event()
        done = threading.Event()

        def up() -> None:
            seen = b""
            try:
                while chunk := client.recv(65536):
                    seen = (seen + chunk)[-(len(self.marker) + 65536) :]
                    with self._lock:
                        if self.marker in seen and self.cut < self.times:
                            self.cut += 1
                            armed.set()
                            seen = b""
                    upstream.sendall(chunk)
            except OSError:
                pass
            finally:
                done.set()

        threading.Thread(target=up, daemon=True).start()
        try:
            while chunk := upstream.recv(65536):
                if armed.is_set():
                    break  # the server answered; the client never hears it
                client.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            done.wait(timeout=5)
