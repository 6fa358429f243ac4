#!/usr/bin/python3
# SPDX-License-Identifier: ISC
# Load for the rolling-upgrade test (t/194-upgrade.t): CLIENTS threads
# connect in a loop (connect, protocol byte 1, one transaction, close)
# and LIVE threads each keep one session for SECONDS, exchanging a
# transaction every 100 ms.  Every failure is counted with its cause; the
# summary is one JSON line on stdout.  Bounded: every socket operation
# times out after 5 s, the run after SECONDS + 10 s.
import json
import socket
import struct
import sys
import threading
import time

host, port, clients, live, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
lock = threading.Lock()
stats = {"connects": 0, "connect_failures": 0, "live_sessions": 0, "live_completed": 0, "live_failures": 0,
         "live_transactions": 0, "causes": {}}


def count(key, cause=None, n=1):
    with lock:
        stats[key] += n
        if cause:
            stats["causes"][cause] = stats["causes"].get(cause, 0) + 1


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed by the server")
        buf += chunk
    return buf


def session():
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(b"\x01")
    if read_exact(s, 1) != b"\x01":
        raise ConnectionError("protocol byte not accepted")
    return s


def exchange(s, payload):
    s.sendall(struct.pack(">I", len(payload)) + payload)
    (length,) = struct.unpack(">I", read_exact(s, 4))
    if read_exact(s, length & 0x7FFFFFFF) != payload:
        raise ValueError("echo differs")


def looping(stop):
    i = 0
    while not stop.is_set():
        i += 1
        try:
            s = session()
            exchange(s, b"loop %d" % i)
            s.close()
            count("connects")
        except Exception as e:  # every failure counts, whatever it is
            count("connect_failures", type(e).__name__ + ": " + str(e))
            time.sleep(0.05)


def keeping(n):
    try:
        s = session()
    except Exception as e:
        count("live_failures", "live connect: " + type(e).__name__ + ": " + str(e))
        return
    count("live_sessions")
    rounds = int(seconds * 10)
    try:
        for r in range(rounds):
            exchange(s, b"live %d round %d" % (n, r))
            count("live_transactions")
            time.sleep(0.1)
        s.close()
        count("live_completed")
    except Exception as e:
        count("live_failures", "live round: " + type(e).__name__ + ": " + str(e))


stop = threading.Event()
threads = [threading.Thread(target=keeping, args=(n,), daemon=True) for n in range(live)]
threads += [threading.Thread(target=looping, args=(stop,), daemon=True) for _ in range(clients)]
for t in threads:
    t.start()
time.sleep(seconds)
stop.set()
deadline = time.time() + 10
for t in threads:
    t.join(max(0, deadline - time.time()))
stats["threads_left"] = sum(t.is_alive() for t in threads)
print(json.dumps(stats), flush=True)
