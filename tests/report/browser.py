"""A headless Chromium driven over the DevTools protocol on a pipe: no driver package, no network.

`chromium --remote-debugging-pipe` reads DevTools commands (JSON, each ended by a NUL
byte) from file descriptor 3 and writes replies and events to descriptor 4. That is
all a test needs to open a page at an exact CSS width (Emulation.setDeviceMetricsOverride:
the desktop window cannot be narrower than 500 px, an emulated phone can), evaluate a
probe in it, see every request it makes (Network.requestWillBeSent) and take a
full-page screenshot. The browser is Debian's `chromium` package (scripts/bootstrap.sh
installs it); browsers downloaded by installers are not reachable from our machines.

    with Browser() as browser:
        page = browser.open(Path("report.html"), width=400)
        page.layout   # {'inner_width': 400, 'scroll_width': 400, 'images': [...], ...}
        page.requests # every URL the page asked for
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# The flags that work on our machines (no sandbox as root, nothing phoning home).
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--remote-debugging-pipe")
MOBILE_BELOW = 600  # widths under this are emulated as a phone, where the viewport meta tag matters
TIMEOUT = 30.0

# What the page looks like once loaded: run in the page, returned as JSON.
PROBE = """(() => {
  const d = document.documentElement;
  const meta = document.querySelector('meta[name="viewport"]');
  return {
    inner_width: window.innerWidth,
    client_width: d.clientWidth,
    scroll_width: Math.max(d.scrollWidth, document.body.scrollWidth),
    scroll_height: Math.max(d.scrollHeight, document.body.scrollHeight),
    viewport_meta: meta ? meta.getAttribute('content') : null,
    images: [...document.images].map(i => ({alt: i.alt, complete: i.complete, natural_width: i.naturalWidth,
                                           src: i.getAttribute('src').slice(0, 40)})),
    wider_than_page: [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > d.clientWidth + 1)
        .slice(0, 5).map(e => e.tagName + (e.className ? '.' + e.className : '')),
  };
})()"""


def chromium_path() -> str | None:
    """Debian's chromium (or CHROMIUM=/path), or None."""
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and (found := shutil.which(name)):
            return found
    return None


@dataclass
class Page:
    width: int
    layout: dict
    requests: list[str] = field(default_factory=list)
    screenshot: bytes | None = None

    @property
    def network_requests(self) -> list[str]:
        """Requests that would leave the machine (anything but file: and data: URLs)."""
        return [u for u in self.requests if not u.startswith(("file:", "data:", "about:"))]


class Browser:
    """One headless Chromium process; `open` loads a file at a CSS width and probes it."""

    def __init__(self, executable: str | None = None):
        self.executable = executable or chromium_path()
        if self.executable is None:
            raise FileNotFoundError("no chromium on PATH (apt-get install -y chromium)")
        self._next_id = 0
        self._buffer = b""

    def __enter__(self) -> "Browser":
        self._profile = tempfile.mkdtemp(prefix="mats-eval-chromium-")
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        # bash (dash cannot name descriptors above 9) puts the browser's ends on descriptors 3 and 4 (moved above 9 first so that they
        # cannot clobber one another); no preexec_fn, so no fork of a multithreaded interpreter
        child_in = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
        child_out = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
        redirect = f'exec "$0" "$@" 3<&{child_in} 4>&{child_out} {child_in}<&- {child_out}>&-'
        self._process = subprocess.Popen(
            ["bash", "-c", redirect, self.executable, *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(child_in, child_out))
        for fd in (to_browser_r, from_browser_w, child_in, child_out):
            os.close(fd)
        self._write, self._read = to_browser_w, from_browser_r
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._send("Browser.close")
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._write)
        os.close(self._read)
        shutil.rmtree(self._profile, ignore_errors=True)

    # --- the protocol ----------------------------------------------------------

    def _send(self, method: str, params: dict | None = None, session: str | None = None,
              events: list | None = None) -> dict:
        """Send one command and return its result; events that arrive meanwhile go to `events`."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if events is not None and "method" in reply:
                events.append(reply)

    def _receive(self, timeout: float = TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._read], [], [], left)[0]:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium exited")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _wait_for(self, method: str, events: list) -> None:
        while not any(e["method"] == method for e in events):
            events.append(self._receive())

    # --- pages -----------------------------------------------------------------

    def open(self, path: Path, width: int, height: int = 900, screenshot: bool = False) -> Page:
        """Load a local file at `width` CSS pixels, wait for its load event, and probe it."""
        target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        events: list = []
        for domain in ("Page", "Network", "Runtime"):
            self._send(f"{domain}.enable", session=session, events=events)
        self._send("Emulation.setDeviceMetricsOverride",
                   {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < MOBILE_BELOW},
                   session=session, events=events)
        self._send("Page.navigate", {"url": Path(path).resolve().as_uri()}, session=session, events=events)
        self._wait_for("Page.loadEventFired", events)
        layout = self._send("Runtime.evaluate", {"expression": PROBE, "returnByValue": True},
                            session=session, events=events)["result"]["value"]
        png = None
        if screenshot:  # the whole page: a viewport as tall as the document
            self._send("Emulation.setDeviceMetricsOverride",
                       {"width": width, "height": layout["scroll_height"], "deviceScaleFactor": 1,
                        "mobile": width < MOBILE_BELOW}, session=session, events=events)
            png = base64.b64decode(self._send("Page.captureScreenshot", {"format": "png"},
                                              session=session, events=events)["data"])
        self._send("Target.closeTarget", {"targetId": target})
        requests = [e["params"]["request"]["url"] for e in events
                    if e["method"] == "Network.requestWillBeSent" and e.get("sessionId") == session]
        return Page(width, layout, requests, png)
