"""What every Python server under spec/support does to be found by
spec/support/python_server.lua: DIR/pid, then DIR/port (written whole,
by a rename, so the waiting side never reads half a number)."""
import os
import socket


def announce(directory, port):
    with open(os.path.join(directory, "pid"), "w") as f:
        f.write(str(os.getpid()))
    with open(os.path.join(directory, "port.tmp"), "w") as f:
        f.write(str(port))
    os.rename(os.path.join(directory, "port.tmp"),
              os.path.join(directory, "port"))


def listen_and_announce(directory):
    """A TCP socket listening on a free loopback port, announced."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    announce(directory, sock.getsockname()[1])
    return sock
