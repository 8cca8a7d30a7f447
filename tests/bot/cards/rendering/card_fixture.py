"""What a render fixture is, and the inputs every feature's fixtures share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from framework.content import default_framework

Builder = Callable[..., Any]
CHART_URL = "https://impact.example.nhs.uk/charts/0123456789abcdef0123456789abcdef.png"
FRAMEWORK = default_framework()
# Words, as people type them, at the assessment's comment limit (1,000 characters).
LONG_COMMENT = ("I added this because it matters to the ward. " * 30)[:1000]


@dataclass(frozen=True)
class CardFixture:
    """A card built by calling `builder(*args, **kwargs)`."""

    name: str
    builder: Builder
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def build(self) -> dict[str, Any]:
        built: dict[str, Any] = self.builder(*self.args, **self.kwargs)
        return built
