"""Experiment parameters: load ``params.yaml``, validate it and fill in defaults."""

from inrdeblur.config.params import (
    ParamsError,
    dataset_settings,
    load_params,
    schema,
    schema_keys,
    validate_params,
)

__all__ = [
    "ParamsError",
    "dataset_settings",
    "load_params",
    "schema",
    "schema_keys",
    "validate_params",
]
