"""GDPR, data side: `explain` everything the warehouse holds about a person, and `forget` them.

`resolve` finds a person's identities; `erase` and `scrub` remove them from the warehouse and the landing
zone; `scan` looks for whatever still mentions them.
"""
