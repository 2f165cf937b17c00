"""Raw HTTP/1.1 over TLS with Python's ssl module: requests a strict parser refuses.

usage: hostile_http.py HOST PORT CA_PEM CERT_PEM KEY_PEM
Prints one JSON line per case: {"case", "status", "body"} (status 0: no response).
"""

import json
import socket
import ssl
import sys

host, port, ca, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
ctx.load_cert_chain(cert, key)
ctx.set_alpn_protocols(["http/1.1"])


def exchange(raw: bytes) -> tuple[int, str]:
    with socket.create_connection((host, port), timeout=10) as s:
        with ctx.wrap_socket(s) as t:
            try:
                t.sendall(raw)
            except OSError:
                pass  # the node may answer and close before all of a huge head is sent
            data = b""
            try:
                while True:
                    chunk = t.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                    head, sep, rest = data.partition(b"\r\n\r\n")
                    if sep:
                        length = 0
                        for line in head.split(b"\r\n")[1:]:
                            k, _, v = line.partition(b":")
                            if k.strip().lower() == b"content-length":
                                length = int(v.strip())
                        if len(rest) >= length:
                            break
            except (OSError, ssl.SSLError):
                pass
    if not data.startswith(b"HTTP/1."):
        return 0, data[:200].decode("latin-1")
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body.decode("utf-8", "replace")


ok_head = b"POST /app/log/private HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
cases = {
    "header_60k": b"GET /node/state HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 60_000 + b"\r\n\r\n",
    "headers_5000": b"GET /node/state HTTP/1.1\r\nHost: x\r\n"
    + b"".join(b"X-H%d: v\r\n" % i for i in range(5000))
    + b"\r\n",
    "header_1m": b"GET /node/state HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n",
    "http09": b"GET /node/state\r\n\r\n",
    "content_length_abc": ok_head + b"Content-Length: abc\r\n\r\n{}",
    "nul_in_path": b"GET /node/st\x00ate HTTP/1.1\r\nHost: x\r\n\r\n",
    "absolute_form": b"GET https://elsewhere.example/node/state HTTP/1.1\r\nHost: elsewhere.example\r\n\r\n",
    "text_plain_json": b"POST /app/log/private HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 25\r\n\r\n"
    + b'{"id": 1, "msg": "hello"}',
}
for name, raw in cases.items():
    status, body = exchange(raw)
    print(json.dumps({"case": name, "status": status, "body": body}), flush=True)
