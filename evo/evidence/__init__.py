"""What users read about a run: the ranking of its entries (and the GA's own order), tuned
fixed entries, paired statistics, held-out results, repeats, rediscovery and the provenance
written into exported files. Reads the store; never writes it."""
