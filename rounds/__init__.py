"""Assessment rounds: the pure rules (who is nudged when, what may be shown). No botbuilder."""
