"""Applications that drive Dagster in this process: the main run (driver and report), live delivery and the
quarantine replay, as `surgewise run`, `surgewise run --live` and `surgewise quarantine replay` use them."""
