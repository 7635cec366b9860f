"""The IB Gateway readiness probe (deploy/helm/wasmtrade/files/api-handshake.sh)
against a fake TWS API server on loopback: ready only when the handshake is
answered; a silent listener (a hung gateway, or socat with nothing behind it)
and a closed port are not ready.

    python3 deploy/tests/gateway_probe_test.py
"""

import pathlib
import socket
import struct
import subprocess
import sys
import threading

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "helm/wasmtrade/files/api-handshake.sh"
HELLO = b"API\0" + struct.pack(">I", 9) + b"v100..176"


def serve(listener: socket.socket, answer: bool, seen: list) -> None:
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(5)
        data = b""
        while len(data) < len(HELLO):
            chunk = conn.recv(64)
            if not chunk:
                break
            data += chunk
        seen.append(data)
        if answer:
            msg = b"176\x0020260101 10:00:00 America/New_York\x00"
            conn.sendall(struct.pack(">I", len(msg)) + msg)
        # Hold the connection until the client gives up.
        try:
            conn.recv(1)
        except OSError:
            pass


def probe(port: int) -> int:
    return subprocess.run(["bash", str(SCRIPT), str(port), "2"], capture_output=True, timeout=30).returncode


def case(answer: bool) -> tuple[int, list]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    seen: list = []
    t = threading.Thread(target=serve, args=(listener, answer, seen), daemon=True)
    t.start()
    rc = probe(port)
    t.join(10)
    listener.close()
    return rc, seen


def main() -> int:
    failures = []
    rc, seen = case(answer=True)
    if rc != 0 or seen != [HELLO]:
        failures.append(f"answering gateway: rc={rc} (want 0), sent={seen!r} (want {HELLO!r})")
    rc, seen = case(answer=False)
    if rc == 0:
        failures.append("silent listener: probe succeeded (want failure)")
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    rc = probe(port)
    if rc == 0:
        failures.append("closed port: probe succeeded (want failure)")
    for f in failures:
        print("gateway probe:", f, file=sys.stderr)
    if not failures:
        print("gateway probe: answering gateway ready; silent listener and closed port not ready")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
