"""Running a job: the driver's loop, work planning and costs, evaluation rows, the
generation clock, run events (observers), the run lease, preflight checks, ``evo compare``
and held-out work. The single writer of a run's rows."""
