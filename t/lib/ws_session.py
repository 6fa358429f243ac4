#!/usr/bin/python3
# SPDX-License-Identifier: ISC
# A browser-like NetPhantom client over WebSocket with Debian's
# python3-websockets: protocol byte 1, then COUNT transactions of mixed
# sizes, every third compressed (zlib, as the Java Deflater writes), each
# checked against its echo.  Prints "ok COUNT" or exits 1 with why.
#   ws_session.py URL COUNT [CAFILE]
import asyncio, random, ssl, struct, sys, zlib
import websockets

async def main(url, count, cafile):
    context = None
    if url.startswith("wss:"):
        context = ssl.create_default_context(cafile=cafile)
    async with websockets.connect(url, subprotocols=["netphantom"], ssl=context, max_size=None,
                                  compression=None, open_timeout=10) as ws:
        if ws.subprotocol != "netphantom":
            sys.exit("no netphantom subprotocol: %r" % ws.subprotocol)
        await ws.send(b"\x01")
        answer = await asyncio.wait_for(ws.recv(), 10)
        if answer != b"\x01":
            sys.exit("protocol byte answered %r" % answer)
        rng = random.Random(7)
        sizes = [0, 1, 3, 4, 5, 100, 1023, 1024, 1025, 4096, 16384, 16385, 65536, 70000]
        for i in range(count):
            size = sizes[i % len(sizes)] if i % 2 else rng.randrange(0, 3000)
            payload = bytes(rng.getrandbits(8) for _ in range(size)) if i % 5 else b"npsocketd " * (size // 10)
            if i % 3 == 0 and payload:
                wire = zlib.compress(payload)
                await ws.send(struct.pack(">I", len(wire) | 0x80000000) + wire)
            else:
                await ws.send(struct.pack(">I", len(payload)) + payload)
            message = await asyncio.wait_for(ws.recv(), 10)
            (word,) = struct.unpack(">I", message[:4])
            body = message[4:]
            if len(body) != word & 0x7fffffff:
                sys.exit("transaction %d: header says %d, message has %d" % (i, word & 0x7fffffff, len(body)))
            if word & 0x80000000:
                body = zlib.decompress(body)
            if body != payload:
                sys.exit("transaction %d: %d bytes came back as %d different ones" % (i, len(payload), len(body)))
    print("ok", count)

asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None))
