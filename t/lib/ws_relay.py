#!/usr/bin/python3
# SPDX-License-Identifier: ISC
# A Remote Assistance relay between a WebSocket party (Debian's
# python3-websockets) and a TCP party: the WebSocket party waits under
# KEY (role 1), the TCP party at HOST:PORT joins it (role 2), then COUNT
# chunks of mixed sizes go each way, each checked byte for byte, and
# the TCP party closes: the WebSocket party must see a close with 1000.
# Prints "ok COUNT" or exits 1 with why.
#   ws_relay.py URL HOST:PORT KEY COUNT
import asyncio, random, struct, sys
import websockets

def relay_header(role, key):
    return b"\x02" + struct.pack(">I", 1 + len(key)) + bytes([role]) + key

async def expect(what, awaitable, want):
    got = await asyncio.wait_for(awaitable, 10)
    if got != want:
        sys.exit("%s: %r, not %r" % (what, got[:40], want[:40]))

async def main(url, address, key, count):
    host, port = address.rsplit(":", 1)
    key = key.encode()
    async with websockets.connect(url, subprotocols=["netphantom"], max_size=None, compression=None,
                                  open_timeout=10) as ws:
        await ws.send(relay_header(1, key))
        await expect("the waiting party's answer", ws.recv(), b"\x02")
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 10)
        writer.write(relay_header(2, key))
        await expect("the joining party's answer", reader.readexactly(1), b"\x01")
        await expect("the waiting party's pairing", ws.recv(), b"\x01")
        rng = random.Random(11)
        sizes = [1, 2, 100, 1024, 4095, 16384, 65536, 100000]
        for i in range(count):
            size = sizes[i % len(sizes)] if i % 2 else rng.randrange(1, 3000)
            chunk = bytes(rng.getrandbits(8) for _ in range(size))
            await ws.send(chunk)
            await expect("chunk %d, WebSocket to TCP" % i, reader.readexactly(size), chunk)
            writer.write(chunk)
            got = b""
            while len(got) < size:
                got += await asyncio.wait_for(ws.recv(), 10)
            if got != chunk:
                sys.exit("chunk %d, TCP to WebSocket: %d bytes came as %d different ones" % (i, size, len(got)))
        writer.close()
        try:
            extra = await asyncio.wait_for(ws.recv(), 10)
            sys.exit("after the TCP party closed: a message of %d bytes, not a close" % len(extra))
        except websockets.exceptions.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            if code != 1000:
                sys.exit("the TCP party closing closed the WebSocket with %r, not 1000" % code)
    print("ok", count)

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
