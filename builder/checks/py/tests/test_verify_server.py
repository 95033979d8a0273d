import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def start(sock, idle):
    load = (HERE / "verify_load.py").read_text()
    return subprocess.Popen(
        [sys.executable, str(HERE / "verify_server.py"), str(sock), str(idle), load],
        stdin=subprocess.DEVNULL,
    )


def wait_for(cond, secs, what):
    end = time.monotonic() + secs
    while not cond():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def ask(sock, argv, log):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(120)
        s.connect(str(sock))
        s.sendall((json.dumps({"argv": argv, "log": str(log)}) + "\n").encode())
        # The forked child closes the connection when the check is done.
        while s.recv(4096):
            pass


def test_each_request_runs_the_load_script_in_a_child(tmp_path):
    sock = tmp_path / "s.sock"
    server = start(sock, 60)
    try:
        wait_for(sock.exists, 120, "the server to listen")
        for i in range(2):
            out = tmp_path / f"load{i}.json"
            argv = [str(out), "cpu", str(tmp_path / "missing"), f"_x_cpu_{i}"]
            ask(sock, argv, tmp_path / f"log{i}")
            res = json.loads(out.read_text())
            assert res["phase"] == "done"
            assert res["loads"][0]["id"] == f"_x_cpu_{i}"
            assert res["loads"][0]["error"]
        assert server.poll() is None, "the server outlives its checks"
        # Removing the socket ends it within its poll interval.
        os.unlink(sock)
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_an_idle_server_exits_and_removes_its_socket(tmp_path):
    sock = tmp_path / "s.sock"
    server = start(sock, 1)
    try:
        wait_for(sock.exists, 120, "the server to listen")
        assert server.wait(timeout=30) == 0
        assert not sock.exists()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
