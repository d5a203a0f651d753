"""Tasks: the registry of named tasks (:mod:`~workers.tasks.registry`), the runtime interface
the training loops see, and the classification and landscape runtimes with their data and
models. More families live in :mod:`workers.families`. Users' tasks: the public protocol
(:mod:`~workers.tasks.protocol`, ``evo.Task``), their config-load check
(:mod:`~workers.tasks.task_check`), runtime (:mod:`~workers.tasks.protocol_runtime`) and
import-path specs (:mod:`~workers.tasks.user_tasks`)."""
