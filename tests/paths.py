"""Where things are, for tests at any depth of the tree."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEEDS_DIR = REPO.parent / "shared" / "seeds"
