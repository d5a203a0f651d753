"""Tasks: the registry of named tasks (:mod:`~workers.tasks.registry`), the runtime interface
the training loops see, and the classification and landscape runtimes with their data and
models. More families live in :mod:`workers.families`."""
