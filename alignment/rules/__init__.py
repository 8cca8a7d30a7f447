"""Strategic alignment rules, pure: the aims → goals → targets → work matrix. No I/O."""
