"""A fork server for the loader check: imports `kernels` and torch once, then
answers each check in a forked child, which starts with both already imported
and is otherwise the process `verify_load.py` would be.

Usage: python verify_server.py SOCKET IDLE_SECONDS LOAD_SCRIPT_TEXT

Listens on the Unix socket SOCKET (bound under a temporary name, then renamed,
so a client never connects to a half-started server). A request is one JSON
line: {"argv": [OUT.json, BACKEND, REPO, ID, ...], "log": FILE}. The child
writes its output to FILE, runs the load script with argv and closes the
connection; the client waits for that end of file. The server exits after
IDLE_SECONDS without a request, or within seconds once SOCKET no longer is its
socket (a newer server took the name, or it was removed).
"""

import json
import os
import socket
import sys
import time

# Seconds between checks of the socket and the idle time.
POLL = 2.0


def serve(path: str, idle: float, load_text: str) -> None:
    load = {"__name__": "verify_load"}
    exec(compile(load_text, "verify_load.py", "exec"), load)  # noqa: S102 - our own script
    import kernels  # noqa: F401 - the point of the server
    import torch  # noqa: F401

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = f"{path}.{os.getpid()}.tmp"
    listener.bind(tmp)
    listener.listen(8)
    os.replace(tmp, path)
    ino = os.stat(path).st_ino

    def still_ours() -> bool:
        try:
            return os.stat(path).st_ino == ino
        except OSError:
            return False

    # Wakes every few seconds: removing the socket ends the server soon.
    listener.settimeout(min(idle, POLL))
    last = time.monotonic()
    while True:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            reap()
            if not still_ours() or time.monotonic() - last >= idle:
                break
            continue
        last = time.monotonic()
        reap()
        if not still_ours():
            conn.close()
            break
        if os.fork() == 0:
            listener.close()
            code = 1
            try:
                conn.settimeout(30)
                req = json.loads(conn.makefile("rb").readline())
                fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                load["main"](["verify_load.py"] + [str(a) for a in req["argv"]])
                code = 0
            except BaseException:  # noqa: BLE001, S110 - the answer file tells the client
                pass
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                conn.close()
                os._exit(code)
        conn.close()
    if still_ours():
        try:
            os.unlink(path)
        except OSError:
            pass
    reap()


def reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


if __name__ == "__main__":
    serve(sys.argv[1], float(sys.argv[2]), sys.argv[3])
