"""The self-assessment feature: its pure rules (`rules`) and its application service (`service`).

The content it asks about (components, questions, levels) is framework/'s.
"""
