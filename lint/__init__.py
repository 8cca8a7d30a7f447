"""Project-specific lint checks that run in `make lint` (import-linter contracts)."""
