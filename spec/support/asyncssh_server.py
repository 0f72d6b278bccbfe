"""An AsyncSSH server for the client specs: the auth methods OpenSSH's
sshd cannot offer without PAM (password, keyboard-interactive, password
change), and scripted misbehaviour.

    python3 asyncssh_server.py DIR

writes DIR/host_key.pub, DIR/port and DIR/pid, then serves until killed.

Users (password "secret" unless said):
  alice    password or keyboard-interactive with one "Password: " prompt;
           gets an auth banner
  carol    keyboard-interactive with two prompts: "Password: " (no echo)
           and "Code: " (echo), answers "secret" and "42"
  bob      password "old" must be changed to "new"
  dropme   disconnected with DISC_BY_APPLICATION at the start of auth
  dropproto disconnected with DISC_PROTOCOL_ERROR at the start of auth
SFTP: the "sftp" subsystem is AsyncSSH's own SFTP server, chrooted to
DIR/sftp (created at start).
Commands: "echo TEXT", "cat" (stdin to stdout), "exit N", "whoami",
"waitsignal" (exits with the signal it receives, or with the length of a
break modulo 256), "drop" (the connection is closed under the running
command).
"""
import asyncio
import os
import sys

import asyncssh

from announce import announce

PASSWORDS = {"alice": "secret", "carol": "secret", "dave": "secret"}


class Server(asyncssh.SSHServer):
    def connection_made(self, conn):
        self._conn = conn

    def begin_auth(self, username):
        if username == "dropme":
            self._conn.disconnect(asyncssh.DISC_BY_APPLICATION,
                                  "go away, dropme")
        elif username == "dropproto":
            self._conn.disconnect(asyncssh.DISC_PROTOCOL_ERROR,
                                  "scripted protocol error")
        elif username == "alice":
            self._conn.send_auth_banner("Welcome, alice\n")
        return True

    def password_auth_supported(self):
        return True

    def validate_password(self, username, password):
        if username == "bob":
            if password == "old":
                raise asyncssh.PasswordChangeRequired("Password expired")
            return password == "new"
        return PASSWORDS.get(username) == password

    def change_password(self, username, old_password, new_password):
        if username == "bob" and old_password == "old" and new_password == "new":
            return True
        raise asyncssh.PasswordChangeRequired("Try another password")

    def kbdint_auth_supported(self):
        return True

    def get_kbdint_challenge(self, username, lang, submethods):
        if username == "carol":
            return ("Login", "Two-factor login", "",
                    [("Password: ", False), ("Code: ", True)])
        return "", "", "", [("Password: ", False)]

    def validate_kbdint_response(self, username, responses):
        if username == "carol":
            return list(responses) == ["secret", "42"]
        return list(responses) == [PASSWORDS.get(username)]


async def handle(process):
    cmd = process.command or ""
    if cmd.startswith("echo "):
        process.stdout.write(cmd[5:] + "\n")
        process.exit(0)
    elif cmd == "cat":
        data = await process.stdin.read()
        process.stdout.write(data)
        process.exit(0)
    elif cmd.startswith("exit "):
        process.exit(int(cmd[5:]))
    elif cmd == "whoami":
        process.stdout.write(process.get_extra_info("username") + "\n")
        process.exit(0)
    elif cmd == "waitsignal":
        # Ends with the first signal or break the client sends.
        try:
            await process.stdin.read()
            process.exit(0)
        except asyncssh.SignalReceived as exc:
            process.exit_with_signal(exc.signal)
        except asyncssh.BreakReceived as exc:
            process.exit(exc.msec % 256)
    elif cmd == "drop":
        process.stdout.write("dropping\n")
        await asyncio.sleep(0.2)
        process.channel.get_extra_info("connection").abort()
    else:
        process.stderr.write("unknown command\n")
        process.exit(127)


def sftp_factory(directory):
    root = os.path.join(directory, "sftp")
    os.makedirs(root, exist_ok=True)

    class ChrootSFTPServer(asyncssh.SFTPServer):
        def __init__(self, chan):
            super().__init__(chan, chroot=root)

    return ChrootSFTPServer


async def main(directory):
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_public_key(os.path.join(directory, "host_key.pub"))
    server = await asyncssh.listen(
        "127.0.0.1", 0, server_factory=Server, server_host_keys=[key],
        process_factory=handle, sftp_factory=sftp_factory(directory))
    announce(directory, server.sockets[0].getsockname()[1])
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
