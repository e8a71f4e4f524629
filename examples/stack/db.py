"""A database stand-in: takes a moment to start, says so like postgres does, then serves TCP."""
import socket
import sys
import time

port = int(sys.argv[1])
print("starting database system", flush=True)
time.sleep(0.5)
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen()
print(f"database system is ready to accept connections on port {port}", flush=True)
while True:
    conn, _ = server.accept()
    conn.sendall(b"ok\n")
    conn.close()
