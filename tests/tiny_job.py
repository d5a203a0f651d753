"""The smallest job the bad-input tests start from: one landscape task, one seed, one
generation of three genomes, inline (a run of it takes well under a second)."""

TINY = {
    "seed": 3,
    "tasks": ["qubic_1d_direct"],
    "evaluation": {"steps": 4, "seeds": [0], "genomes_per_request": 4, "device": "cpu"},
    "population": {"size": 3, "elites": 1, "tournament_k": 2, "generations": 1},
    "fixed_entries": ["adam"],
    "executor": {"kind": "inline", "max_retries": 0},
}
