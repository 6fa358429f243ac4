// SPDX-License-Identifier: ISC
// The relay of ws_relay.py with Debian's node-ws (NODE_PATH=/usr/share/nodejs):
// a WebSocket party waits under KEY (role 1), a TCP party at HOST:PORT
// joins it (role 2), COUNT chunks of mixed sizes go each way, each checked
// byte for byte, and the TCP party closes: the WebSocket party must see a
// close with 1000.  Prints "ok COUNT" or exits 1 with why.
//   node ws_relay.js URL HOST:PORT KEY COUNT
"use strict";
const net = require("net");
const WebSocket = require("ws");

const [url, address, keyText, countText] = process.argv.slice(2);
const count = parseInt(countText, 10);
const key = Buffer.from(keyText);
const fail = (why) => { console.error(why); process.exit(1); };
const timer = setTimeout(() => fail("timed out"), 60000);

// Bytes as they come from each side, and whoever waits for a number of them.
function stream() {
  const s = { data: Buffer.alloc(0), want: 0, resolve: null };
  s.push = (bytes) => {
    s.data = Buffer.concat([s.data, bytes]);
    if (s.resolve && s.data.length >= s.want) { const r = s.resolve; s.resolve = null; r(); }
  };
  s.take = (n) => new Promise((resolve) => {
    const done = () => { const out = s.data.subarray(0, n); s.data = s.data.subarray(n); resolve(out); };
    if (s.data.length >= n) return done();
    s.want = n;
    s.resolve = done;
  });
  return s;
}

const header = (role) => {
  const h = Buffer.alloc(6);
  h[0] = 2;
  h.writeUInt32BE(1 + key.length, 1);
  h[5] = role;
  return Buffer.concat([h, key]);
};
const expect = (what, got, want) => { if (!got.equals(want)) fail(what + ": " + got.toString("hex").slice(0, 40)); };

const fromWs = stream(), fromTcp = stream();
let closeCode = null, closed = null;
const ws = new WebSocket(url, ["netphantom"], { perMessageDeflate: false, maxPayload: 0 });
ws.on("message", (data) => fromWs.push(data));
ws.on("close", (code) => { closeCode = code; if (closed) closed(); });
ws.on("error", (e) => fail("WebSocket error: " + e.message));

async function main() {
  await new Promise((resolve) => ws.on("open", resolve));
  ws.send(header(1));
  expect("the waiting party's answer", await fromWs.take(1), Buffer.from([2]));
  const [host, port] = [address.slice(0, address.lastIndexOf(":")), address.slice(address.lastIndexOf(":") + 1)];
  const tcp = net.connect(parseInt(port, 10), host);
  tcp.on("data", (data) => fromTcp.push(data));
  tcp.on("error", (e) => fail("TCP error: " + e.message));
  tcp.write(header(2));
  expect("the joining party's answer", await fromTcp.take(1), Buffer.from([1]));
  expect("the waiting party's pairing", await fromWs.take(1), Buffer.from([1]));
  let seed = 11;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
  const sizes = [1, 2, 100, 1024, 4095, 16384, 65536, 100000];
  for (let i = 0; i < count; i++) {
    const size = i % 2 ? sizes[i % sizes.length] : 1 + (random() % 2999);
    const chunk = Buffer.from(Array.from({ length: size }, () => random() & 0xff));
    ws.send(chunk);
    expect("chunk " + i + ", WebSocket to TCP", await fromTcp.take(size), chunk);
    tcp.write(chunk);
    expect("chunk " + i + ", TCP to WebSocket", await fromWs.take(size), chunk);
  }
  const gone = new Promise((resolve) => { closed = resolve; if (closeCode !== null) resolve(); });
  tcp.end();
  await gone;
  if (fromWs.data.length) fail("after the TCP party closed: " + fromWs.data.length + " more bytes");
  if (closeCode !== 1000) fail("the TCP party closing closed the WebSocket with " + closeCode + ", not 1000");
  clearTimeout(timer);
  tcp.destroy();
  console.log("ok " + count);
}
main().catch((e) => fail(String(e)));
