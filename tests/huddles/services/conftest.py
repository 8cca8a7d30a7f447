"""The huddle world (tests/huddles/world.py) for the huddle service tests."""

from tests.huddles.world import world

__all__ = ["world"]
