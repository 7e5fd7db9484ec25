"""A minimal W3C WebDriver client for headless Chromium: chromedriver over HTTP with urllib.

No selenium: the test needs six endpoints (new session, navigate, execute script, browser log,
screenshot, delete session), and plain HTTP keeps the dependency list as it is. Chromium runs
headless, sandbox and GPU off (containers), and with every background network switch off so
the page under test is the only thing that could fetch anything.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "chromium",
                       "chromium-browser", "google-chrome")
CHROMEDRIVER_CANDIDATES = ("/usr/bin/chromedriver", "chromedriver")

CHROMIUM_ARGUMENTS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--no-first-run",
    "--no-default-browser-check", "--disable-sync", "--disable-default-apps",
    "--disable-extensions", "--disable-domain-reliability", "--metrics-recording-only",
    "--disable-client-side-phishing-detection", "--disable-features=Translate,OptimizationHints,"
    "MediaRouter,AutofillServerCommunication", "--window-size=1280,1600",
]


def find_executable(candidates: tuple[str, ...]) -> str | None:
    for candidate in candidates:
        found = shutil.which(candidate) if "/" not in candidate else (
            candidate if Path(candidate).is_file() else None)
        if found:
            return found
    return None


def missing_browser() -> str | None:
    """Why the browser test cannot run here (None: it can)."""
    if find_executable(CHROMIUM_CANDIDATES) is None:
        return "Chromium is not installed (Debian: apt-get install chromium chromium-driver)"
    if find_executable(CHROMEDRIVER_CANDIDATES) is None:
        return "chromedriver is not installed (Debian: apt-get install chromium-driver)"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class WebDriverError(RuntimeError):
    pass


class HeadlessChromium:
    """One chromedriver process and one browser session; use as a context manager."""

    def __init__(self, startup_timeout: float = 20.0) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.driver = subprocess.Popen(
            [find_executable(CHROMEDRIVER_CANDIDATES), f"--port={self.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.session: str | None = None
        deadline = time.monotonic() + startup_timeout
        while True:
            try:
                if self._call("GET", "/status").get("ready"):
                    break
            except (OSError, WebDriverError):
                pass
            if time.monotonic() > deadline or self.driver.poll() is not None:
                self.close()
                raise WebDriverError("chromedriver did not become ready")
            time.sleep(0.1)
        capabilities = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": find_executable(CHROMIUM_CANDIDATES),
                                   "args": CHROMIUM_ARGUMENTS},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}}
        try:
            self.session = self._call("POST", "/session", capabilities)["sessionId"]
        except Exception:
            self.close()
            raise

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                payload = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            detail = json.loads(error.read() or b"{}").get("value", {})
            raise WebDriverError(f"{method} {path}: {detail.get('error')}: "
                                 f"{detail.get('message', '')[:300]}") from None
        return payload.get("value", payload)

    def _session(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._call(method, f"/session/{self.session}{path}", body)

    def open(self, url: str) -> None:
        self._session("POST", "/url", {"url": url})

    def script(self, source: str, *arguments: Any) -> Any:
        return self._session("POST", "/execute/sync", {"script": source, "args": list(arguments)})

    def browser_log(self) -> list[dict[str, Any]]:
        """Console messages and failed loads since the last call (chromedriver's log endpoint)."""
        return self._session("POST", "/se/log", {"type": "browser"})

    def screenshot_png(self) -> bytes:
        return base64.b64decode(self._session("GET", "/screenshot"))

    def close(self) -> None:
        if self.session is not None:
            try:
                self._call("DELETE", f"/session/{self.session}")
            except (OSError, WebDriverError):
                pass
            self.session = None
        if self.driver.poll() is None:
            self.driver.terminate()
            try:
                self.driver.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.driver.kill()

    def __enter__(self) -> HeadlessChromium:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def png_pixels(png: bytes) -> Any:
    """The pixels of an 8-bit, non-interlaced PNG as a (height, width, channels) uint8 array,
    decoded with zlib, struct and numpy: the screenshot check needs no imaging library."""
    import struct
    import zlib

    import numpy as np

    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    position, chunks, header = 8, [], None
    while position < len(png):
        length, kind = struct.unpack(">I4s", png[position:position + 8])
        data = png[position + 8:position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", data)
        elif kind == b"IDAT":
            chunks.append(data)
        position += 12 + length
    width, height, depth, color_type, _, _, interlace = header
    if depth != 8 or interlace != 0 or color_type not in (0, 2, 4, 6):
        raise ValueError("only 8-bit, non-interlaced, non-palette PNGs")
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), dtype=np.uint8)
    raw = raw.reshape(height, width * channels + 1)
    pixels = np.zeros((height, width, channels), dtype=np.uint8)
    previous = np.zeros((width, channels), dtype=np.int64)
    for row in range(height):  # undo each row's filter (PNG spec, section 9)
        kind = raw[row, 0]
        line = raw[row, 1:].reshape(width, channels).astype(np.int64)
        if kind == 1:  # Sub: running sum along the row, per channel
            line = np.cumsum(line, axis=0) % 256
        elif kind == 2:  # Up
            line = (line + previous) % 256
        elif kind in (3, 4):  # Average, Paeth: each pixel needs its decoded left neighbour
            left = np.zeros(channels, dtype=np.int64)
            up_left = np.zeros(channels, dtype=np.int64)
            for x in range(width):
                up = previous[x]
                if kind == 3:
                    predictor = (left + up) // 2
                else:
                    estimate = left + up - up_left
                    pa, pb, pc = (np.abs(estimate - left), np.abs(estimate - up),
                                  np.abs(estimate - up_left))
                    predictor = np.where((pa <= pb) & (pa <= pc), left,
                                         np.where(pb <= pc, up, up_left))
                line[x] = (line[x] + predictor) % 256
                left, up_left = line[x], up
        pixels[row] = line
        previous = line
    return pixels
