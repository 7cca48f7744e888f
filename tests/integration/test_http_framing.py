"""HTTP/1.1 framing on raw sockets: one table of requests whose framing is wrong or
unusual, each with the RFC 9110/9112 section it checks and the answer the server must give
on its own (server/gate.c, and libmicrohttpd where it answers itself), then the same table
through HAProxy with the deployment file deploy/haproxy.cfg.

Every request is written in one piece together with a valid request pipelined after it,
and a request for /metrics hides in the bodies and framing errors: a desync (a request read
where the sender's framing says body, or a body read as a request) shows as a /metrics
answer or as an answer to the pipelined request on a connection that must have closed.
Every read has a bounded timeout."""
import json
import os
import re
import socket
import time
import unittest

import harness
import services
import test_openapi_responses as contract  # the module, so its tests are not collected here
from test_server_fixture import Server, room_doc, tokens

HERE = os.path.dirname(os.path.abspath(__file__))
HAPROXY_CFG = os.path.join(HERE, "..", "..", "deploy", "haproxy.cfg")

# A request that must never be answered: /metrics if read where the sender put a body.
SMUG = b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"
# The valid request pipelined after every case; it closes the connection after its answer,
# so every answer on the connection is read, and nothing more can hide after it.
PIPE = b"GET /healthz?pipelined HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
METRICS_MARK = b"# HELP"
HEALTHZ_BODY = b'{"status":"ok"}'
READ_BOUND = 10.0  # seconds a case may take to be answered (and closed) in all


def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


CHUNKED_SMUG = chunk(SMUG) + b"0\r\n\r\n"
CL_SMUG = b"Content-Length: %d\r\n" % len(SMUG)


# source: "gate" (a problem document from server/gate.c), "mhd" (libmicrohttpd's own HTML
# answer), "app" (the route's answer), "mhd2": libmicrohttpd's own answer whose status line
# and headers it sends twice (measured on 0.9.75; see the README's deployment section).
def row(name, section, request, status, closed, source, reason=None):
    return {"name": name, "section": section, "request": request, "status": status,
            "closed": closed, "source": source, "reason": reason,
            "via": VIA_HAPROXY.get(name, ((status,), "proxy"))}


# Every answer on the connection through HAProxy 2.6 with deploy/haproxy.cfg, and who gave
# the first final one (measured): "proxy" refused the request itself (its own text/html page and
# close); "server" means HAProxy forwarded it and the server answered (and then HAProxy
# serves the pipelined request on another server connection).  HAProxy normalises some
# requests and forwards them re-framed, so the server answers 200: one of equal
# Content-Length values (RFC 9110 §8.6); Transfer-Encoding wins over Content-Length, then
# close (RFC 9112 §6.1); obs-fold replaced by SP (§5.2); bare LF taken as a line end (§2.2);
# OWS around a value dropped; a run of spaces in the request line.  It forwards a NUL or a
# control character inside a field value, and a request without Host: those the server
# refuses on its own.  Rows not listed: refused by HAProxy with the server's status.
VIA_HAPROXY = {
    "plain GET": ((200, 200), "server"),
    "body by Content-Length is not a request": ((200, 200), "server"),
    "chunked body is not a request": ((200, 200), "server"),
    "chunked, any case": ((200, 200), "server"),
    "chunk extension": ((200, 200), "server"),
    "chunked trailer field": ((200, 200), "server"),
    "absolute-form target": ((200, 200), "server"),
    "absolute-form target is routed like its path": ((401, 200), "server"),
    "HTTP/1.0 closes after the answer": ((200,), "server"),
    "HTTP/1.2 is served as 1.1": ((200, 200), "server"),
    "answered from the headers alone: the body is never read": ((401, 200), "server"),
    # HAProxy answers 100 itself (option http-buffer-request), then forwards the request
    "Expect: 100-continue answered from the headers": ((100, 401, 200), "server"),
    "two equal Content-Length": ((200, 200), "server"),
    "Content-Length over 2^64": ((400,), "proxy"),
    "Transfer-Encoding with Content-Length": ((200,), "server"),
    "Content-Length after Transfer-Encoding": ((200,), "server"),
    "Transfer-Encoding: gzip": ((400,), "proxy"),
    "Transfer-Encoding: chunked, gzip": ((400,), "proxy"),
    "Transfer-Encoding: gzip, chunked": ((422,), "proxy"),
    "Transfer-Encoding: xchunked": ((400,), "proxy"),
    "Transfer-Encoding: chunked<TAB>": ((200, 200), "server"),
    "two Transfer-Encoding lines": ((422,), "proxy"),
    "HTTP/1.0 with Transfer-Encoding": ((413,), "proxy"),
    "chunk size over 2^64": ((400,), "proxy"),
    "no Host in HTTP/1.1": ((400, 200), "server"),
    "Host that is not host:port": ((400, 200), "server"),
    "obs-fold": ((200, 200), "server"),
    # the fold makes the Content-Length line part of X-A's value, so HAProxy reads the
    # hidden request as a request of its own and refuses it (its /metrics rule): the proxy
    # and the server agree where every request ends
    "obs-fold hiding Content-Length": ((200, 404, 200), "server"),
    "NUL in a field value": ((400, 200), "server"),
    "control character in a field value": ((400, 200), "server"),
    "DEL in a field value": ((400, 200), "server"),
    "bare LF ending a field line": ((200, 200), "server"),
    "bare LF line ends throughout": ((200, 200), "server"),
    "%00 in the path": ((400, 200), "server"),
    "%00 in the query": ((400, 200), "server"),
    "two spaces after the method": ((200, 200), "server"),
    "absolute form with userinfo": ((400, 200), "server"),
    "HTTP/2.0 on an HTTP/1.1 connection": ((200, 200), "server"),
}


TABLE = [
    # controls: framing that is right, and what the server does with it
    row("plain GET", "RFC 9112 §9.3 (persistence)",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 200, False, "app"),
    row("body by Content-Length is not a request", "RFC 9112 §6.2",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + CL_SMUG + b"\r\n" + SMUG, 200, False, "app"),
    row("chunked body is not a request", "RFC 9112 §7.1",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + CHUNKED_SMUG,
        200, False, "app"),
    row("chunked, any case", "RFC 9112 §7 (coding names are case-insensitive)",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: Chunked\r\n\r\n" + CHUNKED_SMUG,
        200, False, "app"),
    row("chunk extension", "RFC 9112 §7.1.1",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"%x;ext=1\r\n%s\r\n0\r\n\r\n" % (len(SMUG), SMUG), 200, False, "app"),
    row("chunked trailer field", "RFC 9112 §7.1.2",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(SMUG)
        + b"0\r\nX-Trailer: 1\r\n\r\n", 200, False, "app"),
    row("absolute-form target", "RFC 9112 §3.2.2 (MUST accept)",
        b"GET http://t/healthz HTTP/1.1\r\nHost: t\r\n\r\n", 200, False, "app"),
    row("absolute-form target is routed like its path", "RFC 9112 §3.2.2",
        b"POST http://t/rooms/r/save HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
        401, True, "app"),
    row("HTTP/1.0 closes after the answer", "RFC 9112 §9.3",
        b"GET /healthz HTTP/1.0\r\n\r\n", 200, True, "app"),
    row("HTTP/1.2 is served as 1.1", "RFC 9110 §6.2",
        b"GET /healthz HTTP/1.2\r\nHost: t\r\n\r\n", 200, False, "app"),
    row("answered from the headers alone: the body is never read", "RFC 9110 §10.1.1",
        b"POST /rooms/r/save HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        + CL_SMUG + b"\r\n" + SMUG, 401, True, "app"),
    row("Expect: 100-continue answered from the headers", "RFC 9110 §10.1.1",
        b"POST /rooms/r/save HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Expect: 100-continue\r\n" + CL_SMUG + b"\r\n" + SMUG, 401, True, "app"),
    # Content-Length
    row("two different Content-Length", "RFC 9112 §6.3 (400 and close)",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n" + CL_SMUG + b"\r\n" + SMUG,
        400, True, "gate", "repeated-content-length"),
    row("two equal Content-Length", "RFC 9112 §6.3",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + CL_SMUG + CL_SMUG + b"\r\n" + SMUG,
        400, True, "gate", "repeated-content-length"),
    row("Content-Length list in one line", "RFC 9110 §8.6",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 0, %d\r\n\r\n" % len(SMUG) + SMUG,
        400, True, "mhd2"),
    row("Content-Length not a number", "RFC 9110 §8.6",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n" + SMUG,
        400, True, "mhd2"),
    row("Content-Length negative", "RFC 9110 §8.6",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n" + SMUG,
        400, True, "mhd2"),
    row("Content-Length with a plus sign", "RFC 9110 §8.6",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: +%d\r\n\r\n" % len(SMUG) + SMUG,
        400, True, "mhd2"),
    row("Content-Length over 2^64", "RFC 9112 §6.3",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999\r\n\r\n"
        + SMUG, 413, True, "mhd2"),
    # Transfer-Encoding
    row("Transfer-Encoding with Content-Length", "RFC 9112 §6.1 (close after responding)",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + CHUNKED_SMUG, 400, True, "gate",
        "te-with-content-length"),
    row("Content-Length after Transfer-Encoding", "RFC 9112 §6.1",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        + CL_SMUG + b"\r\n" + CHUNKED_SMUG, 400, True, "gate", "te-with-content-length"),
    row("Transfer-Encoding: gzip", "RFC 9112 §6.1 (501 for an unknown coding)",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n" + CHUNKED_SMUG,
        501, True, "gate", "unsupported-transfer-coding"),
    row("Transfer-Encoding: chunked, gzip", "RFC 9112 §6.1, §6.3 (chunked not final)",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
        + CHUNKED_SMUG, 501, True, "gate", "unsupported-transfer-coding"),
    row("Transfer-Encoding: gzip, chunked", "RFC 9112 §6.1",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
        + CHUNKED_SMUG, 501, True, "gate", "unsupported-transfer-coding"),
    row("Transfer-Encoding: xchunked", "RFC 9112 §6.1",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n"
        + CHUNKED_SMUG, 501, True, "gate", "unsupported-transfer-coding"),
    row("Transfer-Encoding: chunked<TAB>", "RFC 9112 §6.1 (exactly chunked)",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\t\r\n\r\n"
        + CHUNKED_SMUG, 400, True, "gate", "bad-transfer-encoding"),
    row("Transfer-Encoding: chunked, chunked", "RFC 9112 §6.1",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"
        + CHUNKED_SMUG, 400, True, "gate", "bad-transfer-encoding"),
    row("Transfer-Encoding: chunked;q=1", "RFC 9112 §7",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked;q=1\r\n\r\n"
        + CHUNKED_SMUG, 400, True, "gate", "bad-transfer-encoding"),
    row("two Transfer-Encoding lines", "RFC 9112 §6.1",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + CHUNKED_SMUG, 400, True, "gate",
        "repeated-transfer-encoding"),
    row("HTTP/1.0 with Transfer-Encoding", "RFC 9112 §6.1 (faulty framing, close)",
        b"GET /healthz HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" + CHUNKED_SMUG,
        400, True, "gate", "te-in-http10"),
    row("chunk size not hex", "RFC 9112 §7.1",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0x%x\r\n%s\r\n0\r\n\r\n" % (len(SMUG), SMUG), 400, True, "mhd"),
    row("chunk longer than its size", "RFC 9112 §7.1",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\n" + SMUG + b"\r\n0\r\n\r\n", 400, True, "mhd"),
    row("chunk size over 2^64", "RFC 9112 §7.1",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"fffffffffffffffffffff\r\n" + SMUG + b"\r\n0\r\n\r\n", 413, True, "mhd"),
    # Host
    row("no Host in HTTP/1.1", "RFC 9112 §3.2",
        b"GET /healthz HTTP/1.1\r\n\r\n", 400, True, "gate", "missing-host"),
    row("two Host", "RFC 9112 §3.2",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n", 400, True, "gate",
        "repeated-host"),
    row("Host that is not host:port", "RFC 9112 §3.2",
        b"GET /healthz HTTP/1.1\r\nHost: t/u\r\n\r\n", 400, True, "gate", "bad-host"),
    # credentials
    row("two Authorization", "RFC 9110 §11.6.2, §5.3",
        b"GET /rooms/r/state HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer a.b.c\r\n"
        b"Authorization: Bearer d.e.f\r\n\r\n", 400, True, "gate", "repeated-authorization"),
    # field lines
    row("space before the colon", "RFC 9112 §5.1 (MUST 400)",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length : %d\r\n\r\n" % len(SMUG) + SMUG,
        400, True, "gate", "bad-field"),
    row("tab before the colon", "RFC 9112 §5.1",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length\t: %d\r\n\r\n" % len(SMUG) + SMUG,
        400, True, "gate", "bad-field"),
    row("empty field name", "RFC 9110 §5.1",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\n: x\r\n\r\n", 400, True, "gate", "bad-field"),
    row("empty field name before another field", "RFC 9110 §5.1",
        b"GET /healthz HTTP/1.1\r\n: x\r\nHost: t\r\n\r\n", 400, True, "gate", "bad-field"),
    row("field line without a colon", "RFC 9112 §5",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length\r\n\r\n", 400, True, "mhd"),
    row("obs-fold", "RFC 9112 §5.2 (400 or replace)",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n 2\r\n\r\n", 400, True, "gate",
        "bad-field"),
    row("obs-fold hiding Content-Length", "RFC 9112 §5.2",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n " + CL_SMUG + b"\r\n" + SMUG,
        400, True, "gate", "bad-field"),
    row("NUL in a field value", "RFC 9110 §5.5 (MUST reject or replace)",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\nX-B: c\r\n\r\n", 400, True,
        "gate", "bad-field"),
    row("NUL inside Content-Length", "RFC 9110 §5.5",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 0\x00 %d\r\n\r\n" % len(SMUG)
        + SMUG, 400, True, "gate", "bad-field"),
    row("control character in a field value", "RFC 9110 §5.5",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: a\x01b\r\n\r\n", 400, True, "gate",
        "bad-field"),
    row("bare CR in a field value", "RFC 9112 §2.2",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n", 400, True, "gate",
        "bad-field"),
    row("DEL in a field value", "RFC 9110 §5.5",
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: a\x7fb\r\n\r\n", 400, True, "gate",
        "bad-field"),
    row("bare LF ending a field line", "RFC 9112 §2.2",
        b"GET /healthz HTTP/1.1\r\nHost: t\nX-A: b\r\n\r\n", 400, True, "gate", "bad-field"),
    row("bare LF line ends throughout", "RFC 9112 §2.2",
        b"GET /healthz HTTP/1.1\nHost: t\n\n", 400, True, "gate", "bad-request-line"),
    # request line and target
    row("NUL in the path", "RFC 9112 §3",
        b"GET /heal\x00thz HTTP/1.1\r\nHost: t\r\n\r\n", 400, True, "gate",
        "bad-request-line"),
    row("%00 in the path", "RFC 9112 §3.2, RFC 3986 §2.1",
        b"GET /rooms/a%00b/state HTTP/1.1\r\nHost: t\r\n\r\n", 400, True, "gate",
        "bad-target"),
    row("%00 in the query", "RFC 9112 §3.2",
        b"GET /rooms/r/state?version=1%00junk HTTP/1.1\r\nHost: t\r\n\r\n", 400, True,
        "gate", "bad-target"),
    row("control character in the path", "RFC 9112 §3.2",
        b"GET /heal\x01thz HTTP/1.1\r\nHost: t\r\n\r\n", 400, True, "gate", "bad-target"),
    row("space in the target", "RFC 9112 §3.2",
        b"GET /heal thz HTTP/1.1\r\nHost: t\r\n\r\n", 400, True, "gate", "bad-target"),
    row("two spaces after the method", "RFC 9112 §3",
        b"GET  /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 400, True, "gate", "bad-request-line"),
    row("fragment in the target", "RFC 9112 §3.2",
        b"GET /healthz#x HTTP/1.1\r\nHost: t\r\n\r\n", 400, True, "gate", "bad-target"),
    row("absolute form with userinfo", "RFC 9110 §4.2.4",
        b"GET http://u@t/healthz HTTP/1.1\r\nHost: t\r\n\r\n", 400, True, "gate",
        "bad-target"),
    row("HTTP/2.0 on an HTTP/1.1 connection", "RFC 9110 §15.6.6",
        b"GET /healthz HTTP/2.0\r\nHost: t\r\n\r\n", 505, True, "mhd"),
]


class Answer:
    """What came back on one connection: the raw bytes, the parsed responses, whether the
    server closed it, and bytes that did not parse as a response."""

    def __init__(self):
        self.raw = b""
        self.responses = []  # (status, headers dict lower-case, body)
        self.closed = False
        self.garbage = b""


def _parse(buf):
    """One response from buf: ((status, headers, body), rest) or (None, buf) if incomplete,
    or raises ValueError on bytes that are not a response."""
    if not buf.startswith(b"HTTP/1.") and len(buf) >= 7:
        raise ValueError("not a response")
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None, buf
    lines = buf[:end].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    status = int(parts[1])
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(b":")
        headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
    n = int(headers.get("content-length", "0"))
    if len(buf) < end + 4 + n:
        return None, buf
    return (status, headers, buf[end + 4:end + 4 + n]), buf[end + 4 + n:]


def exchange(port, data, bound=READ_BOUND):
    """Writes data in one piece; reads until the peer closes or bound seconds have passed
    (every recv has the remaining time as its timeout)."""
    a = Answer()
    deadline = time.monotonic() + bound
    with socket.create_connection(("127.0.0.1", port), timeout=bound) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before everything was written: read what was answered
        buf = b""
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                got = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                a.closed = True
                break
            if not got:
                a.closed = True
                break
            a.raw += got
            buf += got
        try:
            while buf:
                resp, buf = _parse(buf)
                if resp is None:
                    break
                a.responses.append(resp)
        except ValueError:
            pass
        a.garbage = buf
    return a


def is_healthz(resp):
    return resp[0] == 200 and resp[2] == HEALTHZ_BODY


class FramingTable(unittest.TestCase):
    def test_table_has_40_cases_with_sections(self):
        self.assertGreaterEqual(len(TABLE), 40)
        names = [r["name"] for r in TABLE]
        self.assertEqual(len(names), len(set(names)))
        for r in TABLE:
            self.assertRegex(r["section"], r"^RFC (9110|9112) §\d", r["name"])
            if r["source"] == "gate":
                self.assertTrue(r["reason"], r["name"])

    def test_direct(self):
        """Every case straight to the server: the documented status, the connection
        closed when it must be, the pipelined request answered only on a connection that
        stays open, and the hidden /metrics request never answered."""
        s = Server(self)
        spec = contract.Contract(self) if contract.jsonschema else None
        schemas = spec.spec["components"]["schemas"] if spec else {}
        for r in TABLE:
            with self.subTest(r["name"]):
                a = exchange(s.port, r["request"] + PIPE)
                self.assertNotIn(METRICS_MARK, a.raw, "a body was served as a request")
                self.assertTrue(a.raw.startswith(b"HTTP/1.1 %d " % r["status"]), a.raw[:200])
                if r["source"] == "mhd2":
                    # libmicrohttpd 0.9.75 writes its status line and headers twice for a
                    # bad Content-Length (measured; the README's deployment section)
                    self.assertEqual(a.raw.count(b"HTTP/1.1 %d " % r["status"]), 2, a.raw)
                    self.assertNotIn(HEALTHZ_BODY, a.raw)
                    self.assertTrue(a.closed)
                    continue
                self.assertEqual(a.garbage, b"", a.raw[:300])
                self.assertTrue(a.closed, "connection left open")
                first = a.responses[0]
                self.assertEqual(first[0], r["status"])
                if r["closed"]:
                    self.assertEqual(len(a.responses), 1, "pipelined request answered")
                else:
                    self.assertEqual(len(a.responses), 2, a.raw[:400])
                    self.assertTrue(is_healthz(a.responses[1]), a.responses[1])
                if r["source"] == "gate":
                    self.assertEqual(first[1].get("connection"), "close")
                    self.assertTrue(first[1]["content-type"].startswith(
                        "application/problem+json"))
                    doc = json.loads(first[2])
                    self.assertEqual(doc["status"], r["status"])
                    code = ("unsupported-transfer-coding" if r["status"] == 501
                            else "bad-message")
                    self.assertEqual(doc["type"], "https://roomstate.dev/problems/" + code)
                    self.assertEqual(doc["reason"], r["reason"])
                    self.assertTrue(doc["detail"])
                    if spec:  # openapi.yaml documents it
                        name = ("ProblemUnsupportedTransferCoding" if r["status"] == 501
                                else "ProblemBadMessage")
                        spec.validate(schemas[name], doc, r["name"])
                elif r["source"] == "mhd":
                    self.assertEqual(first[1].get("connection"), "close")
        self.assertTrue(s.proc.alive())
        st, _, _ = s.request("GET", "/healthz")
        self.assertEqual(st, 200)

    def test_absolute_form_save(self):
        """RFC 9112 §3.2.2: an origin server MUST accept the absolute form; it is routed by
        its path (the authority is ignored), so a save through it is stored."""
        s = Server(self)
        tok = tokens()["valid"]
        body = json.dumps(room_doc()).encode()
        req = (b"POST http://elsewhere.example:9/rooms/abs-form/save HTTP/1.1\r\nHost: t\r\n"
               b"Authorization: Bearer " + tok.encode() + b"\r\n"
               b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
               + body)
        a = exchange(s.port, req + PIPE)
        self.assertEqual([x[0] for x in a.responses], [201, 200], a.raw[:400])
        st, _, b = s.request("GET", "/rooms/abs-form/state", token=tok)
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(b)["version"], 1)

    def test_through_haproxy(self):
        """The same table through HAProxy with deploy/haproxy.cfg: every answer on the
        connection is the one expected (refused by HAProxy, refused by the server, or the
        request as HAProxy re-framed it), the pipelined request gets only its own answer,
        and no body is ever served as a request."""
        s = Server(self)
        port = harness.free_port()
        with open(HAPROXY_CFG) as f:
            cfg = f.read()
        cfg, nb = re.subn(r"(?m)^(\s*)bind .*$", rf"\g<1>bind 127.0.0.1:{port}", cfg)
        cfg, ns = re.subn(r"(?m)^(\s*server \S+ )\S+", rf"\g<1>127.0.0.1:{s.port}", cfg)
        self.assertEqual((nb, ns), (1, 1), "deploy/haproxy.cfg: one bind, one server line")
        services.haproxy(self, cfg, [port])
        report = []
        for r in TABLE:
            with self.subTest(r["name"]):
                a = exchange(port, r["request"] + PIPE)
                got = tuple(x[0] for x in a.responses)
                report.append(f"  {got}  {r['name']}")
                self.assertNotIn(METRICS_MARK, a.raw, "desync: a body was served as a request")
                self.assertTrue(a.closed, "connection left open after Connection: close")
                self.assertEqual(a.garbage, b"", a.raw[:300])
                want, by = r["via"]
                self.assertEqual(got, want, a.raw[:400])
                final = [x for x in a.responses if x[0] >= 200][0]  # not an interim 100
                ct = final[1].get("content-type", "")
                self.assertEqual(ct.startswith("text/html"), by == "proxy", a.raw[:300])
                if got[-1] == 200:
                    self.assertTrue(is_healthz(a.responses[-1]), a.responses[-1])
        if os.environ.get("ROOMSTATE_FRAMING_REPORT"):
            print("\nthrough haproxy:\n" + "\n".join(report))
        a = exchange(port, PIPE)  # the server still answers through the proxy
        self.assertTrue(a.responses and is_healthz(a.responses[0]), a.raw[:300])


if __name__ == "__main__":
    unittest.main()
