"""A paramiko SSH server for the client specs: paramiko's own transport,
auth and channel code, and its SFTP server over a plain directory.

    python3 paramiko_server.py DIR

writes DIR/host_key.pub (ed25519), DIR/port and DIR/pid, then serves until
killed.  User "alice" logs in with the key in DIR/authorized.pub or with
password "secret".  Exec requests run through /bin/sh in DIR/root (stdin,
stdout, stderr and the exit status, or the signal that killed it, passed
through); the "sftp" subsystem serves DIR/root as "/".
"""
import os
import subprocess
import sys
import threading

import paramiko

from announce import listen_and_announce

DIR = sys.argv[1]
ROOT = os.path.join(DIR, "root")

SIGNALS = {1: "HUP", 2: "INT", 9: "KILL", 13: "PIPE", 15: "TERM"}


class Server(paramiko.ServerInterface):
    def __init__(self):
        with open(os.path.join(DIR, "authorized.pub")) as f:
            self.allowed = tuple(f.read().split()[:2])

    def get_allowed_auths(self, username):
        return "publickey,password"

    def check_auth_password(self, username, password):
        if username == "alice" and password == "secret":
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_auth_publickey(self, username, key):
        if username == "alice" and (key.get_name(), key.get_base64()) == self.allowed:
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind, chanid):
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel, command):
        threading.Thread(target=run_command, args=(channel, command),
                         daemon=True).start()
        return True

    def check_channel_env_request(self, channel, name, value):
        return False


def run_command(chan, command):
    p = subprocess.Popen(["/bin/sh", "-c", command], cwd=ROOT,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)

    def feed():
        try:
            while True:
                d = chan.recv(65536)
                if not d:
                    break
                p.stdin.write(d)
                p.stdin.flush()
        except (OSError, EOFError):
            pass
        try:
            p.stdin.close()
        except OSError:
            pass

    def pump(src, send):
        while True:
            d = src.read1(65536)
            if not d:
                break
            send(d)

    threads = [threading.Thread(target=feed, daemon=True),
               threading.Thread(target=pump, args=(p.stdout, chan.sendall)),
               threading.Thread(target=pump, args=(p.stderr, chan.sendall_stderr))]
    for t in threads:
        t.start()
    threads[1].join()
    threads[2].join()
    rc = p.wait()
    if rc < 0:
        # exit-signal (RFC 4254 6.10): name, core dumped, message, language.
        m = paramiko.Message()
        m.add_string(SIGNALS.get(-rc, "TERM"))
        m.add_boolean(False)
        m.add_string("")
        m.add_string("")
        chan.transport._send_user_message(_request(chan, "exit-signal", m))
    else:
        chan.send_exit_status(rc)
    chan.shutdown_write()
    chan.close()


def _request(chan, name, body):
    m = paramiko.Message()
    m.add_byte(bytes([98]))  # SSH_MSG_CHANNEL_REQUEST
    m.add_int(chan.remote_chanid)
    m.add_string(name)
    m.add_boolean(False)
    m.add_bytes(body.asbytes())
    return m


class Handle(paramiko.SFTPHandle):
    def stat(self):
        try:
            return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)

    def chattr(self, attr):
        try:
            paramiko.SFTPServer.set_file_attr(self.filename, attr)
            return paramiko.SFTP_OK
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)


class FS(paramiko.SFTPServerInterface):
    def _real(self, path):
        return os.path.join(ROOT, self.canonicalize(path).lstrip("/"))

    def canonicalize(self, path):
        path = os.path.normpath("/" + path)
        return path if path.startswith("/") else "/" + path

    def _err(self, e):
        return paramiko.SFTPServer.convert_errno(e.errno)

    def list_folder(self, path):
        try:
            out = []
            for name in os.listdir(self._real(path)):
                a = paramiko.SFTPAttributes.from_stat(
                    os.lstat(os.path.join(self._real(path), name)))
                a.filename = name
                out.append(a)
            return out
        except OSError as e:
            return self._err(e)

    def stat(self, path):
        try:
            return paramiko.SFTPAttributes.from_stat(os.stat(self._real(path)))
        except OSError as e:
            return self._err(e)

    def lstat(self, path):
        try:
            return paramiko.SFTPAttributes.from_stat(os.lstat(self._real(path)))
        except OSError as e:
            return self._err(e)

    def open(self, path, flags, attr):
        real = self._real(path)
        try:
            fd = os.open(real, flags | getattr(os, "O_BINARY", 0), 0o666)
        except OSError as e:
            return self._err(e)
        if flags & os.O_CREAT and attr is not None:
            attr._flags &= ~attr.FLAG_PERMISSIONS
            paramiko.SFTPServer.set_file_attr(real, attr)
        if flags & os.O_WRONLY:
            mode = "ab" if flags & os.O_APPEND else "wb"
        elif flags & os.O_RDWR:
            mode = "a+b" if flags & os.O_APPEND else "r+b"
        else:
            mode = "rb"
        f = os.fdopen(fd, mode)
        h = Handle(flags)
        h.filename = real
        h.readfile = f
        h.writefile = f
        return h

    def remove(self, path):
        try:
            os.remove(self._real(path))
        except OSError as e:
            return self._err(e)
        return paramiko.SFTP_OK

    def rename(self, oldpath, newpath):
        try:
            os.rename(self._real(oldpath), self._real(newpath))
        except OSError as e:
            return self._err(e)
        return paramiko.SFTP_OK

    def mkdir(self, path, attr):
        try:
            os.mkdir(self._real(path))
            if attr is not None:
                paramiko.SFTPServer.set_file_attr(self._real(path), attr)
        except OSError as e:
            return self._err(e)
        return paramiko.SFTP_OK

    def rmdir(self, path):
        try:
            os.rmdir(self._real(path))
        except OSError as e:
            return self._err(e)
        return paramiko.SFTP_OK

    def chattr(self, path, attr):
        try:
            paramiko.SFTPServer.set_file_attr(self._real(path), attr)
        except OSError as e:
            return self._err(e)
        return paramiko.SFTP_OK

    def symlink(self, target_path, path):
        try:
            os.symlink(target_path, self._real(path))
        except OSError as e:
            return self._err(e)
        return paramiko.SFTP_OK

    def readlink(self, path):
        try:
            return os.readlink(self._real(path))
        except OSError as e:
            return self._err(e)


def serve(sock, host_key):
    t = paramiko.Transport(sock)
    t.add_server_key(host_key)
    t.set_subsystem_handler("sftp", paramiko.SFTPServer, FS)
    t.start_server(server=Server())
    # Keep the transport alive until the client goes.
    while t.is_active():
        t.join(1)


def main():
    os.makedirs(ROOT, exist_ok=True)
    # Group exchange needs the primes (OpenSSH's /etc/ssh/moduli).
    paramiko.Transport.load_server_moduli()
    key = paramiko.Ed25519Key.from_private_key_file(os.path.join(DIR, "host_key"))
    with open(os.path.join(DIR, "host_key.pub"), "w") as f:
        f.write("%s %s\n" % (key.get_name(), key.get_base64()))
    sock = listen_and_announce(DIR)
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=serve, args=(conn, key), daemon=True).start()


if __name__ == "__main__":
    main()
