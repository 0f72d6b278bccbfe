"""A TCP echo server on 127.0.0.1 for the direct-tcpip specs.

    python3 tcp_echo.py DIR

writes DIR/port and DIR/pid; each connection gets back what it sends,
and its write side is shut down once the client's is (EOF for EOF).
"""
import socket
import sys
import threading

from announce import listen_and_announce

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
    s = listen_and_announce(DIR)
    while True:
        c, _ = s.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()


main()
