"""An HTTP/1.1 service for experiments/services.toml: every request costs WORK seconds of the server's
time (a sleep, standing in for a database call), then gets a 200 whose body is a line naming the path and
the number of bytes the request sent. Keep-alive; one thread per connection. With CPU_SECONDS, a request
also busy-loops until the process has spent that much more CPU time (`time.process_time`), and the answer
then prints the process's CPU time so far (`cpu SECONDS`) to standard output: a known cost of CPU per
request, and a measure of it of the service's own.

    python3 experiments/http_service.py PORT [WORK_SECONDS [CPU_SECONDS]]
"""

import http.server
import sys
import time

WORK = float(sys.argv[2]) if len(sys.argv) > 2 else 0.005
CPU = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes: without TCP_NODELAY, the client's delayed ACK holds the
    # body back 40 ms.
    disable_nagle_algorithm = True

    def answer(self):
        sent = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(WORK)
        if CPU > 0:
            until = time.process_time() + CPU
            while time.process_time() < until:
                pass
        body = f"{self.command} {self.path} {len(sent)}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if CPU > 0:
            print(f"cpu {time.process_time():.6f}", flush=True)

    do_GET = answer
    do_POST = answer
    do_PUT = answer

    def log_message(self, format, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    # Room for every connection a run opens at once: a full accept queue costs a client a second's retry.
    request_queue_size = 4096
    daemon_threads = True


if __name__ == "__main__":
    server = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    print(f"listening on 127.0.0.1:{sys.argv[1]}", flush=True)
    server.serve_forever()
