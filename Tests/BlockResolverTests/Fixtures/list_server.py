#!/usr/bin/env python3
"""A list server for the download tests: HTTPS (or HTTP) with Python's http.server and ssl.

Serves the files of --root. What it does with a file is set by files next to it, which a test
writes between requests:
  NAME.gzip    the body is sent gzip-encoded (Content-Encoding: gzip) to a client that accepts it
  NAME.cut     Content-Length says the whole file, half of it is sent, then the connection is closed
  NAME.stall   as .cut, but the connection is held open, silent, for the seconds its first line says
  NAME.rate    its first line is the bytes a second the body is sent at (a benchmark's slow download)
  NAME.status  its first line is the status sent instead (500, ...), with a short text body
  NAME.redirect  its first line is a Location answered with 302 (NAME itself need not exist)
ETag (a hash of the content) and Last-Modified (the file's mtime) are sent with every 200, and a
request with a matching If-None-Match (or, without one, an If-Modified-Since not older than the
file) is answered 304. Every request is logged to --log as one line, with its status and the
conditional headers it carried (`if-none-match=[…]`), so a test can read what the client sent.
"""
import argparse
import email.utils
import gzip
import hashlib
import http.server
import os
import socket
import ssl
import sys
import threading
import time

LOG_LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "list-server"

    def log_message(self, format, *args):  # the default log goes to stderr; ours is `note`
        pass

    def note(self, status, sent):
        fields = [f"request path={self.path}", f"status={status}"]
        for name in ("If-None-Match", "If-Modified-Since", "Accept-Encoding", "Authorization", "User-Agent"):
            fields.append(f"{name.lower()}=[{self.headers.get(name, '')}]")
        fields.append(f"bytes={sent}")
        with LOG_LOCK, open(self.server.log_path, "a") as log:
            log.write(" ".join(fields) + "\n")

    def do_GET(self):
        name = os.path.basename(self.path.split("?")[0])
        path = os.path.join(self.server.root, name)
        redirect_file = path + ".redirect"
        if name and os.path.exists(redirect_file):
            with open(redirect_file) as f:
                target = f.read().strip()
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return self.note(302, 0)
        if not name or not os.path.isfile(path):
            return self.simple(404, b"not found\n")
        status_file = path + ".status"
        if os.path.exists(status_file):
            with open(status_file) as f:
                return self.simple(int(f.read().split()[0]), b"scripted failure\n")
        with open(path, "rb") as f:
            digest = hashlib.sha256()
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        etag = '"' + digest.hexdigest()[:16] + '"'
        mtime = int(os.stat(path).st_mtime)
        last_modified = email.utils.formatdate(mtime, usegmt=True)
        if self.not_modified(etag, mtime):
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", last_modified)
            self.end_headers()
            return self.note(304, 0)
        gzipped = os.path.exists(path + ".gzip") and "gzip" in self.headers.get("Accept-Encoding", "")
        if gzipped:
            with open(path, "rb") as f:
                body = gzip.compress(f.read())
            length = len(body)
        else:
            length = os.stat(path).st_size
        cut = os.path.exists(path + ".cut")
        stall = 0
        if os.path.exists(path + ".stall"):
            with open(path + ".stall") as f:
                stall = int(f.read().split()[0])
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(length))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", last_modified)
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        limit = length // 2 if cut or stall else length
        rate = 0
        if os.path.exists(path + ".rate"):
            with open(path + ".rate") as f:
                rate = int(f.read().split()[0])
        began = time.monotonic()
        sent = 0
        if gzipped:
            self.wfile.write(body[:limit])
            sent = limit
        else:
            with open(path, "rb") as f:
                while sent < limit:
                    block = f.read(min(1 << 16, limit - sent))
                    if not block:
                        break
                    self.wfile.write(block)
                    sent += len(block)
                    if rate:  # ahead of the rate: wait until it catches up
                        time.sleep(max(0.0, sent / rate - (time.monotonic() - began)))
        self.wfile.flush()
        self.note(200, sent)
        if stall:
            time.sleep(stall)
            self.close_connection = True
        if cut:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    def not_modified(self, etag, mtime):
        sent_etags = self.headers.get("If-None-Match")
        if sent_etags is not None:
            return etag in [tag.strip() for tag in sent_etags.split(",")] or sent_etags.strip() == "*"
        since = self.headers.get("If-Modified-Since")
        if since:
            try:
                return email.utils.parsedate_to_datetime(since).timestamp() >= mtime
            except (TypeError, ValueError):
                return False
        return False

    def simple(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.note(status, len(body))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--plain", action="store_true", help="plain HTTP: no --cert, no TLS")
    options = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", options.port), Handler)
    server.daemon_threads = True
    server.root = options.root
    server.log_path = options.log
    if not options.plain:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(options.cert, options.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"listening on 127.0.0.1:{options.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
