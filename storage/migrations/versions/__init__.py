"""One revision per schema version: ``NNNN_*.py`` upgrades version NNNN-1 to NNNN."""
