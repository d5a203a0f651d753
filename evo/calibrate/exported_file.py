"""The rule a calibration starts from: an exported optimizer file, read without running it.

An exported file (:mod:`optimizers.export`) holds ``GENOME = {...}`` (the genome's seed JSON
form, a literal) and a class deriving from ``RuleOptimizer`` whose ``__init__`` defaults give
the file's default ``lr`` and ``total_steps``. They are read with :mod:`ast` (the file is
never imported); the default lr replaces the genome's own when it differs (a file written by
an earlier calibration keeps its genome's lr_log10 in step with its default anyway).
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from pathlib import Path

from evo.errors import UsageError
from optimizers.genome import Genome


@dataclass(frozen=True)
class ExportedRule:
    """What a calibration needs from an exported file."""

    genome: Genome
    class_name: str
    total_steps: int
    path: Path


def _defaults(function: ast.FunctionDef) -> dict[str, object]:
    """Literal defaults of a function's positional and keyword-only arguments."""
    args = function.args
    positional = args.posonlyargs + args.args
    pairs = list(zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
    out = {}
    for arg, node in pairs:
        try:
            out[arg.arg] = ast.literal_eval(node)
        except ValueError:
            continue
    return out


def _named(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def read_exported(path: Path) -> ExportedRule:
    """The genome, class name and cosine horizon of an exported optimizer file.

    Raises:
        UsageError: the file is missing, does not parse, or holds no exported genome.
    """
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except (OSError, UnicodeDecodeError, SyntaxError) as exc:
        raise UsageError(f"{path}: cannot read an exported optimizer ({type(exc).__name__}: {exc})") from None
    literal, cls = None, None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(_named(t, "GENOME") for t in node.targets):
            literal = node.value
        if isinstance(node, ast.ClassDef) and any(_named(b, "RuleOptimizer") for b in node.bases):
            cls = node
    if literal is None or cls is None:
        raise UsageError(f"{path}: not a file written by `evo export` (no GENOME and RuleOptimizer class)")
    try:
        genome = Genome.model_validate(ast.literal_eval(literal))
    except ValueError as exc:
        raise UsageError(f"{path}: its GENOME is not a valid genome ({exc})") from None
    init = next((f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"), None)
    defaults = _defaults(init) if init is not None else {}
    lr = defaults.get("lr")
    own_lr = isinstance(lr, float) and lr > 0 and math.isfinite(lr)
    if own_lr and not math.isclose(lr, genome.lr, rel_tol=1e-12):
        genome = genome.model_copy(update={"lr_log10": math.log10(lr)})
    steps = defaults.get("total_steps")
    return ExportedRule(genome, cls.name, steps if isinstance(steps, int) and steps >= 1 else 1000, path)
