"""Headless Chromium for the UI tests: Debian's chromium driven by Playwright, never a browser
that Playwright downloads; a fresh profile per test; console errors and failed requests kept for
the test to assert on; screenshots under build/ui-screenshots (gitignored) as artifacts."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import ConsoleMessage, Page, Request, async_playwright

CHROMIUM = os.environ.get("GLASSMESH_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[3] / "build" / "ui-screenshots"
TIMEOUT_MS = 20_000


@dataclass
class Browser:
    """One page of a fresh browser, and what went wrong in it so far."""

    page: Page
    shots: Path
    errors: list[str] = field(default_factory=list)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} at {message.location}")

    def _failed(self, request: Request) -> None:
        if request.failure != "net::ERR_ABORTED":  # a fetch cut short by leaving the page
            self.errors.append(f"request failed: {request.url} {request.failure}")

    async def open(self, url: str) -> Page:
        """Loads ``url`` and waits until the page's script says it is ready (or failed)."""
        await self.page.goto(url)
        await self.page.wait_for_selector("body[data-state=ready], body[data-state=error]")
        return self.page

    async def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path


@asynccontextmanager
async def browser(profile: Path, shots: Path = SCREENSHOTS) -> AsyncIterator[Browser]:
    """A headless Chromium with its own profile directory; closed on exit."""
    assert shutil.which(CHROMIUM), f"{CHROMIUM} not found: `make install` installs chromium"
    os.makedirs(shots, exist_ok=True)
    async with async_playwright() as driver:
        context = await driver.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=ARGS
        )
        try:
            context.set_default_timeout(TIMEOUT_MS)
            page = context.pages[0] if context.pages else await context.new_page()
            seen = Browser(page, shots)
            page.on("console", seen._console)
            page.on("pageerror", lambda exc: seen.errors.append(f"page error: {exc}"))
            page.on("requestfailed", seen._failed)
            yield seen
        finally:
            await context.close()
