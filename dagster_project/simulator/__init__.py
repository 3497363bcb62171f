"""A seeded synthetic B2B market that writes the landing zone Surgewise ingests.

`simulate` plays out accounts, contacts and hidden buying windows day by day and writes one batch file
per source and day, with realistic noise (bots, duplicates, late and malformed rows, schema drift). The
hidden truth (who was really buying, each contact's preferred hour) goes to a separate ground-truth
directory the pipeline never reads, so the platform's findings can be scored against it (`evaluation`).

The world (`catalogue`) is planned up front (`plan`), played out one day at a time (`activity`, with
`web_traffic` and `newsletter`) and delivered as files (`landing`).
"""

from dagster_project.simulator.landing import SimulationSummary, simulate

__all__ = ["SimulationSummary", "simulate"]
