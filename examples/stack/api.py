"""An API stand-in: checks the database, then answers /health with 200 and / with a greeting."""
import http.server
import os
import socket
import sys

port, db_port = int(sys.argv[1]), int(os.environ["DB_PORT"])
with socket.create_connection(("127.0.0.1", db_port), timeout=2) as conn:
    print("api: database says", conn.recv(16).decode().strip(), flush=True)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"healthy\n" if self.path == "/health" else b"hello from the api\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        print("api:", fmt % args, flush=True)


print(f"api: listening on {port}", flush=True)
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
