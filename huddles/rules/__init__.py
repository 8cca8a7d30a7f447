"""Huddle rules, pure: schedule timing, items (ideas, actions, escalations) and digests.

Every function takes the time it reasons about as an argument; nothing here reads the clock.
"""
