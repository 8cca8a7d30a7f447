"""Fixtures for the Playground end-to-end tests (``pytest -m e2e``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright

from tests.e2e.playground import launch_chromium, require_chromium


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Headless Debian Chromium driven by Playwright; skips if /usr/bin/chromium is missing."""
    require_chromium()
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            yield browser
        finally:
            await browser.close()
