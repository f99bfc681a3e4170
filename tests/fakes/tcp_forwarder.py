"""A loopback TCP forwarder that can freeze: a network partition between one process and Redis.

``freeze()`` keeps every connection open but stops relaying bytes, both ways, and holds new
connections unanswered, like a network path that silently drops packets (no RST, no FIN: clients
only notice through their own timeouts). ``thaw()`` relays again what was held, in order.
"""

from __future__ import annotations

import socket
import threading


class FreezableForwarder:
    """127.0.0.1:<port> -> ``target``; ``url_for(redis_url)`` rewrites a Redis URL to go through it."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._open = threading.Event()
        self._open.set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = [self._listener]
        self._lock = threading.Lock()
        self._stopped = False

    def url_for(self, redis_url: str) -> str:
        host_port = f"{self.target[0]}:{self.target[1]}"
        assert host_port in redis_url, redis_url
        return redis_url.replace(host_port, f"127.0.0.1:{self.port}")

    def start(self) -> FreezableForwarder:
        threading.Thread(target=self._accept, name="forwarder-accept", daemon=True).start()
        return self

    def freeze(self) -> None:
        self._open.clear()

    def thaw(self) -> None:
        self._open.set()

    def stop(self) -> None:
        self._stopped = True
        self._open.set()
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.close()
                except OSError:
                    pass

    def _keep(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._keep(client)
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        self._open.wait()  # frozen: the client's connect succeeded, but nothing answers
        try:
            upstream = socket.create_connection(self.target)
        except OSError:
            client.close()
            return
        self._keep(upstream)
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                self._open.wait()  # frozen: what was read is held until thawed
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
