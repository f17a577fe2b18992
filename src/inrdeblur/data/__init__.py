"""Datasets: scene records, the dataset registry and the embedded demo dataset."""
