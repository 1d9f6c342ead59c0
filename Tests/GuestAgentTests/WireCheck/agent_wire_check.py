#!/usr/bin/env python3
"""Independent wire check of guest-agent.

Nothing here comes from GuestKit's Swift code: the messages are encoded by Google's Python protobuf
runtime (from PyPI) from classes protoc generated out of the repository's .proto files, and the ttRPC
framing (10-byte header: length u32 BE, stream id u32 BE, type u8, flags u8) is written below by hand
from containerd/ttrpc's PROTOCOL.md. The agent runs natively on a Unix socket, started the way guest-init
starts it (a control socket in GUESTKIT_INIT_FD that receives READY and, on Shutdown, POWEROFF).

Run by `make agent-wire-check` (part of `make test`). Exits non-zero on the first failed check.
"""
import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile

from guestkit.v1 import agent_pb2
from ttrpc import ttrpc_pb2

SERVICE = "guestkit.v1.Agent"
TYPE_REQUEST, TYPE_RESPONSE = 1, 2
OK, NOT_FOUND, UNIMPLEMENTED = 0, 5, 12
checks = 0


def check(condition, what):
    global checks
    if not condition:
        print(f"agent_wire_check: FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1
    print(f"  ok  {what}")


def recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


class Connection:
    """One ttRPC client connection: odd stream ids, one call at a time."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(path)
        self.next_stream = 1

    def call(self, method, message):
        request = ttrpc_pb2.Request(service=SERVICE, method=method, payload=message.SerializeToString())
        payload = request.SerializeToString()
        stream = self.next_stream
        self.next_stream += 2
        self.sock.sendall(struct.pack(">IIBB", len(payload), stream, TYPE_REQUEST, 0) + payload)
        length, got_stream, kind, _flags = struct.unpack(">IIBB", recv_exactly(self.sock, 10))
        check(kind == TYPE_RESPONSE and got_stream == stream,
              f"{method}: response frame (type {kind}) on stream {got_stream}")
        response = ttrpc_pb2.Response()
        response.ParseFromString(recv_exactly(self.sock, length))
        return response

    def read_to_end(self):
        data = b""
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                return data
            data += chunk


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--agent", required=True, help="path of the built guest-agent")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="agent-wire-") as scratch:
        path = os.path.join(scratch, "agent.sock")
        boot = os.path.join(scratch, "boot.json")
        with open(boot, "w") as f:
            json.dump({"init_version": "0.1.0", "kernel_release": "6.12.0-test",
                       "stages": [{"name": "init_started", "boottime_ns": 120000000},
                                  {"name": "agent_ready", "boottime_ns": 310000000}],
                       "root": {"source": "/dev/pmem0", "type": "ext4", "dax": True, "overlay": "tmpfs",
                                "switched": True},
                       "agent_restarts": 0}, f)
        control, agent_end = socket.socketpair()
        env = dict(os.environ, GUESTKIT_INIT_FD=str(agent_end.fileno()))
        agent = subprocess.Popen([args.agent, "--listen", "unix:" + path, "--boot-file", boot],
                                 env=env, pass_fds=(agent_end.fileno(),), stdin=subprocess.DEVNULL)
        agent_end.close()
        try:
            control.settimeout(30)
            check(recv_exactly(control, 6) == b"READY\n", "agent wrote READY on GUESTKIT_INIT_FD")
            conn = Connection(path)

            reply = conn.call("GetInfo", agent_pb2.GetInfoRequest())
            check(reply.status.code == OK, f"GetInfo status OK ({reply.status.message})")
            info = agent_pb2.GetInfoResponse()
            info.ParseFromString(reply.payload)
            check(info.agent_version == "0.1.0", f"agent_version {info.agent_version!r}")
            check(info.kernel_release == os.uname().release, f"kernel_release {info.kernel_release!r}")
            check([(s.name, s.boottime_ns) for s in info.boot_stages]
                  == [("init_started", 120000000), ("agent_ready", 310000000)], "boot stages from boot.json")
            check(info.root_dax and info.root.source == "/dev/pmem0", "root is DAX /dev/pmem0")
            check(info.init_version == "0.1.0", "init_version from boot.json")
            check("stdio-connections" in info.features, f"features {list(info.features)}")
            check(info.memory.total_bytes > 0 and info.memory.agent_private_dirty_bytes > 0, "memory figures")

            start = agent_pb2.StartProcessRequest(
                args=["sh", "-c", 'echo "out:$GREETING"; echo err >&2; exit 3'],
                env=["GREETING=hello from python"], stdout=True, stderr=True)
            reply = conn.call("StartProcess", start)
            check(reply.status.code == OK, f"StartProcess status OK ({reply.status.message})")
            started = agent_pb2.StartProcessResponse()
            started.ParseFromString(reply.payload)
            check(started.id != "" and started.pid > 0, f"process {started.id} pid {started.pid}")

            streams = {}
            for name, kind in (("stdout", agent_pb2.STDIO_STREAM_STDOUT), ("stderr", agent_pb2.STDIO_STREAM_STDERR)):
                stream = Connection(path)
                reply = stream.call("AttachStdio", agent_pb2.AttachStdioRequest(id=started.id, stream=kind))
                check(reply.status.code == OK, f"AttachStdio {name} OK ({reply.status.message})")
                streams[name] = stream
            out = streams["stdout"].read_to_end()
            err = streams["stderr"].read_to_end()
            check(out == b"out:hello from python\n", f"stdout bytes {out!r}")
            check(err == b"err\n", f"stderr bytes {err!r}")

            reply = conn.call("WaitProcess", agent_pb2.WaitProcessRequest(id=started.id))
            check(reply.status.code == OK, "WaitProcess status OK")
            waited = agent_pb2.WaitProcessResponse()
            waited.ParseFromString(reply.payload)
            check(waited.exit_code == 3 and waited.signal == 0, f"exit code {waited.exit_code}")

            reply = conn.call("StartProcess", agent_pb2.StartProcessRequest(
                args=["no-such-program-xyz"], env=["PATH=/usr/bin:/bin"]))
            check(reply.status.code == NOT_FOUND, f"missing binary: NOT_FOUND ({reply.status.message})")
            check("no-such-program-xyz" in reply.status.message and "/usr/bin:/bin" in reply.status.message,
                  "the error names the program and the PATH searched")

            reply = conn.call("NoSuchMethod", agent_pb2.GetInfoRequest())
            check(reply.status.code == UNIMPLEMENTED, f"unknown method: UNIMPLEMENTED ({reply.status.message})")

            reply = conn.call("Shutdown", agent_pb2.ShutdownRequest(reboot=False))
            check(reply.status.code == OK, "Shutdown status OK")
            check(recv_exactly(control, 9) == b"POWEROFF\n", "agent asked init to POWEROFF")
        finally:
            agent.terminate()
            agent.wait(timeout=30)
    print(f"agent_wire_check: {checks} checks passed")


if __name__ == "__main__":
    main()
