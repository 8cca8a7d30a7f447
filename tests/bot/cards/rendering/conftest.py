"""The render check runs in the same headless Chromium as the Playground tests."""

from tests.e2e.conftest import browser

__all__ = ["browser"]
