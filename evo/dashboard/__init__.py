"""``evo dashboard``: a local, read-only web app over the store (FastAPI), and its JSON API.

Beside :mod:`evo.report`, above it in the layers (it shows the report's MathML formula); it
reads through :mod:`evo.evidence` and :mod:`storage` and never writes. Nothing below the
CLI imports it; the CLI imports it only when the command runs (FastAPI is an optional extra).
"""
