"""Helpers the Dagster definitions share: resources, the sensor guard, check recording, Markdown metadata, the
Great Expectations runner, the dbt translator, running jobs in process, and job and sensor names."""
