"""Team huddles: the pure rules (when a huddle prompt goes out, what comes out of a huddle, the
digest figures). No botbuilder, no database, no clock."""
