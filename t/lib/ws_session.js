// SPDX-License-Identifier: ISC
// The same session as ws_session.py, with Debian's node-ws
// (NODE_PATH=/usr/share/nodejs): protocol byte 1, then COUNT
// transactions of mixed sizes, every third compressed, each checked
// against its echo.  Prints "ok COUNT" or exits 1 with why.
//   node ws_session.js URL COUNT [CAFILE]
"use strict";
const fs = require("fs");
const zlib = require("zlib");
const WebSocket = require("ws");

const [url, countText, cafile] = process.argv.slice(2);
const count = parseInt(countText, 10);
const options = { perMessageDeflate: false, maxPayload: 0 };
if (cafile) options.ca = fs.readFileSync(cafile);
const ws = new WebSocket(url, ["netphantom"], options);
const fail = (why) => { console.error(why); process.exit(1); };
const timer = setTimeout(() => fail("timed out"), 60000);

let seed = 7;
const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
const sizes = [0, 1, 3, 4, 5, 100, 1023, 1024, 1025, 4096, 16384, 16385, 65536, 70000];
let sent = 0, answered = false, expected = null;

function next() {
  if (sent === count) { console.log("ok " + count); clearTimeout(timer); ws.close(1000); return; }
  const size = sent % 2 ? sizes[sent % sizes.length] : random() % 3000;
  const payload = sent % 5 ? Buffer.from(Array.from({ length: size }, () => random() & 0xff))
                           : Buffer.from("npsocketd ".repeat(Math.floor(size / 10)));
  let wire = payload, flag = 0;
  if (sent % 3 === 0 && payload.length) { wire = zlib.deflateSync(payload); flag = 0x80000000; }
  const header = Buffer.alloc(4);
  header.writeUInt32BE((wire.length | flag) >>> 0);
  expected = payload;
  sent++;
  ws.send(Buffer.concat([header, wire]));
}

ws.on("open", () => {
  if (ws.protocol !== "netphantom") fail("no netphantom subprotocol: " + ws.protocol);
  ws.send(Buffer.from([1]));
});
ws.on("message", (data) => {
  if (!answered) {
    answered = true;
    if (data.length !== 1 || data[0] !== 1) fail("protocol byte answered " + data.toString("hex"));
    return next();
  }
  const word = data.readUInt32BE(0);
  let body = data.subarray(4);
  if (body.length !== (word & 0x7fffffff)) fail("transaction " + (sent - 1) + ": length mismatch");
  if (word & 0x80000000) body = zlib.inflateSync(body);
  if (!body.equals(expected)) fail("transaction " + (sent - 1) + ": came back different");
  next();
});
ws.on("error", (e) => fail("WebSocket error: " + e.message));
