"""Strategic alignment as stored: tables (tables.py), aims, goals and targets (strategy.py),
projects and links from goals to work (work.py), and personal data (personal.py)."""
