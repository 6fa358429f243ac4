#!/usr/bin/python3
# SPDX-License-Identifier: ISC
# Drives Debian's chromium headless over the DevTools protocol (with
# python3-websockets): opens URL in a fresh profile whose NSS database
# trusts CAFILE, waits until the element #result has text, prints that
# text, and saves a screenshot of the page to SHOT.  Exits 1 with why.
#   browser.py URL CAFILE SHOT [SECONDS]
import asyncio, base64, json, os, shutil, subprocess, sys, tempfile, time
import websockets

async def main(url, cafile, shot, seconds):
    home = tempfile.mkdtemp(prefix="np-browser-")
    nssdb = os.path.join(home, ".pki", "nssdb")
    os.makedirs(nssdb)
    subprocess.run(["certutil", "-d", "sql:" + nssdb, "-N", "--empty-password"], check=True)
    subprocess.run(["certutil", "-d", "sql:" + nssdb, "-A", "-t", "C,,", "-n", "npsocketd test CA", "-i", cafile],
                   check=True)
    profile = os.path.join(home, "profile")
    env = dict(os.environ, HOME=home)
    browser = subprocess.Popen(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                "--disable-dev-shm-usage", "--window-size=1000,800", "--user-data-dir=" + profile,
                                "--remote-debugging-port=0", "about:blank"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        until = time.time() + 60
        while not os.path.exists(port_file) or not open(port_file).read().strip():
            if time.time() > until or browser.poll() is not None:
                sys.exit("chromium did not start")
            await asyncio.sleep(0.1)
        port, path = open(port_file).read().split()[:2]
        async with websockets.connect("ws://127.0.0.1:%s%s" % (port, path), max_size=None) as cdp:
            ids = iter(range(1, 1 << 30))
            async def call(method, session=None, **params):
                n = next(ids)
                message = {"id": n, "method": method, "params": params}
                if session:
                    message["sessionId"] = session
                await cdp.send(json.dumps(message))
                while True:
                    reply = json.loads(await asyncio.wait_for(cdp.recv(), 30))
                    if reply.get("id") == n:
                        if "error" in reply:
                            sys.exit("%s: %s" % (method, reply["error"]))
                        return reply["result"]
            target = (await call("Target.createTarget", url="about:blank"))["targetId"]
            session = (await call("Target.attachToTarget", targetId=target, flatten=True))["sessionId"]
            await call("Page.enable", session)
            await call("Page.navigate", session, url=url)
            text, until = "", time.time() + seconds
            while not text and time.time() < until:
                await asyncio.sleep(0.2)
                value = await call("Runtime.evaluate", session,
                                   expression="(document.getElementById('result') || {}).textContent || ''")
                text = value.get("result", {}).get("value", "")
            image = await call("Page.captureScreenshot", session, format="png")
            with open(shot, "wb") as f:
                f.write(base64.b64decode(image["data"]))
            if not text:
                state = await call("Runtime.evaluate", session,
                                   expression="document.getElementById('state').textContent")
                sys.exit("no result within %ss (state: %s)" % (seconds, state.get("result", {}).get("value")))
            print(text)
    finally:
        browser.terminate()
        try:
            browser.wait(10)
        except subprocess.TimeoutExpired:
            browser.kill()
        shutil.rmtree(home, ignore_errors=True)

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 60))
