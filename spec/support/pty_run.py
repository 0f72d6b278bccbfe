#!/usr/bin/python3
"""Runs a command under a pseudo-terminal and scripts its input.

usage: pty_run.py STEPS_JSON -- command args...
STEPS_JSON is a list of ["send", text] / ["expect", text, timeout] /
["sleep", seconds] steps.  Prints everything the program wrote, then
"\n[exit N]".  Exits 3 if an expect step timed out (after printing).
"""
import json, os, pty, select, sys, time

def main():
    steps = json.loads(sys.argv[1])
    cmd = sys.argv[sys.argv.index("--") + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm"
        os.execvp(cmd[0], cmd)
    out = b""
    failed = None

    def pump(deadline):
        nonlocal out
        while True:
            left = deadline - time.time()
            if left <= 0:
                return
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                return
            try:
                data = os.read(fd, 4096)
            except OSError:
                return
            if not data:
                return
            out += data
            yield

    for step in steps:
        if step[0] == "send":
            os.write(fd, step[1].encode())
        elif step[0] == "sleep":
            for _ in pump(time.time() + step[1]):
                pass
        elif step[0] == "expect":
            want = step[1].encode()
            start = len(out)
            if want not in out[start:]:
                for _ in pump(time.time() + step[2]):
                    if want in out:
                        break
            if want not in out:
                failed = step[1]
                break
    for _ in pump(time.time() + 2):
        pass
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    sys.stdout.write(out.decode("utf-8", "replace"))
    sys.stdout.write("\n[exit %d]\n" % code)
    if failed is not None:
        sys.stdout.write("[expect failed: %r]\n" % failed)
        sys.exit(3)

main()
