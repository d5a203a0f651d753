"""``evo calibrate``: a short lr sweep of an exported rule on the user's task (light at import)."""
