"""The public Python API behind ``evo/__init__.py``: load a config, start or resume a run,
open a database and read a run (best entries, export, DataFrames, report).

Above :mod:`evo.report` and below :mod:`evo.cli` (which uses it for the same steps). Every
module here is light at import; what a call needs (torch, Ray, pandas) is imported in it.
"""
