"""A real headless Chromium driven over the DevTools protocol (a websocket), for page tests.

:class:`Browser` starts ``chromium --headless --remote-debugging-port=0`` with a fresh
profile, connects to its one page and records every JavaScript error: uncaught exceptions
(``Runtime.exceptionThrown``), ``console.error`` calls and the browser's own error log
entries (failed loads, CSP, ...). Tests read the page with :meth:`Browser.evaluate`.
Network beyond the local server is closed (``--host-resolver-rules``).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless",
    "--disable-gpu",
    "--hide-scrollbars",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--remote-allow-origins=*",
]


def chromium_binary() -> str | None:
    """The Chromium (or Chrome) on PATH, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One headless Chromium page; ``errors`` lists every JavaScript error seen so far."""

    def __init__(self, width: int = 1280, height: int = 900, timeout_s: float = 30.0) -> None:
        import websocket  # websocket-client (dev extra)

        binary = chromium_binary()
        if binary is None:
            raise RuntimeError("no chromium on PATH")
        self.profile = Path(tempfile.mkdtemp(prefix="evo-chromium-"))
        flags = [*FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-port=0",
                 f"--window-size={width},{height}"]  # fmt: skip
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            flags.append("--no-sandbox")  # Chromium refuses to sandbox as root
        self.process = subprocess.Popen(
            [binary, *flags, "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.errors: list[str] = []
        self._ids = itertools.count(1)
        try:
            port = self._devtools_port(timeout_s)
            targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
            page = next(t for t in targets if t.get("type") == "page")
            self.socket = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=timeout_s)
            for domain in ("Runtime", "Log", "Page"):
                self.send(f"{domain}.enable")
        except BaseException:
            self.close()
            raise

    def _devtools_port(self, timeout_s: float) -> int:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if marker.exists() and marker.read_text().strip():
                return int(marker.read_text().split()[0])
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode} before listening")
            time.sleep(0.05)
        raise TimeoutError("chromium did not open its DevTools port")

    def _note(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append(details.get("exception", {}).get("description") or details.get("text", "?"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            self.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            self.errors.append(f"{params['entry'].get('text')} ({params['entry'].get('url', '')})")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a DevTools method and return its result (events met meanwhile are recorded)."""
        call_id = next(self._ids)
        self.socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._note(message)

    def goto(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (None when it throws)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return None if "exceptionDetails" in result else result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 20.0, every_s: float = 0.1) -> Any:
        """Poll ``expression`` until it is truthy; its value. Raises TimeoutError."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(every_s)
        raise TimeoutError(f"the page never satisfied {expression!r} in {timeout_s} s")

    def screenshot(self, path: Path) -> None:
        """A PNG of the whole page (not only the window)."""
        metrics = self.send("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": metrics["width"], "height": metrics["height"], "scale": 1}
        shot = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        sock = getattr(self, "socket", None)
        if sock is not None:
            sock.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
