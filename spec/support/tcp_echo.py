"""A TCP echo server on 127.0.0.1 for the direct-tcpip specs.

    python3 tcp_echo.py DIR

writes DIR/port and DIR/pid; each connection gets back what it sends,
and its write side is shut down once the client's is (EOF for EOF).
"""
import os
import socket
import sys
import threading

DIR = sys.argv[1]


def echo(conn):
    with conn:
        while True:
            d = conn.recv(65536)
            if not d:
                break
            conn.sendall(d)
        conn.shutdown(socket.SHUT_WR)


def main():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    with open(os.path.join(DIR, "pid"), "w") as f:
        f.write(str(os.getpid()))
    with open(os.path.join(DIR, "port.tmp"), "w") as f:
        f.write(str(s.getsockname()[1]))
    os.rename(os.path.join(DIR, "port.tmp"), os.path.join(DIR, "port"))
    while True:
        c, _ = s.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()


main()
