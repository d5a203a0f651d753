"""Export a genome as a standalone ``.py`` file defining a ``torch.optim.Optimizer``.

The file contains the source of :mod:`optimizers.rule` verbatim (so it runs the very code
``GenomeOptimizer`` runs and reproduces its trajectory exactly) plus a small subclass with
the genome baked in as its default. It imports only ``torch`` and ``math``.

Example::

    write_optimizer_file(EVO_SEED_BEST, "evolved.py", class_name="EvolvedOptimizer")
    # elsewhere, with only torch installed:
    from evolved import EvolvedOptimizer
    opt = EvolvedOptimizer(model.parameters(), total_steps=1000)
"""

from __future__ import annotations

import inspect
import keyword
import math
from pathlib import Path

from optimizers import rule
from optimizers.genome import Genome

_TEMPLATE = '''"""{class_name}: an optimizer discovered by evo's evolutionary search.

Standalone: needs only torch. Genome {genome_hash}:
    {description}

Usage:
    from {module_name} import {class_name}
    opt = {class_name}(model.parameters(), total_steps=1000)  # total_steps: cosine horizon
    loss.backward(); opt.step(); opt.zero_grad()

The update rule below is copied verbatim from evo's optimizers/rule.py.
"""
{rule_source}

GENOME = {genome_literal}


class {class_name}(RuleOptimizer):
    """Genome {genome_hash} as a torch.optim.Optimizer (see the module docstring)."""

    def __init__(self, params, total_steps={total_steps}, genome=None):
        super().__init__(params, dict(GENOME if genome is None else genome), total_steps)
'''


def _check_class_name(class_name: str) -> None:
    if not (isinstance(class_name, str) and class_name.isidentifier() and class_name.isascii()):
        raise ValueError(f"Invalid class_name: {class_name!r} is not a Python identifier")
    if keyword.iskeyword(class_name) or class_name in {"RuleOptimizer", "GENOME", "torch", "math"}:
        raise ValueError(f"Invalid class_name: {class_name!r} is reserved")


def _literal(value: object) -> str:
    """A Python literal for a validated genome value; anything but numbers/bools is refused."""
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"Invalid genome value: {value!r} is not finite")
        return repr(float(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    raise ValueError(f"Invalid genome value: {value!r} ({type(value).__name__}) cannot be exported")


def render_optimizer_source(
    genome: Genome, class_name: str = "EvolvedOptimizer", total_steps: int = 1000, module_name: str = ""
) -> str:
    """Source text of the standalone optimizer module (``module_name`` only feeds its docstring)."""
    _check_class_name(class_name)
    # Re-validate even a Genome: model_construct() can bypass validation, and only numbers
    # and bools may reach the generated source.
    data = genome.model_dump(warnings=False) if isinstance(genome, Genome) else genome
    genome = Genome.model_validate(data)
    if not isinstance(total_steps, int) or isinstance(total_steps, bool) or total_steps < 1:
        raise ValueError(f"Invalid total_steps: {total_steps!r}")
    items = ", ".join(f"{key!r}: {_literal(value)}" for key, value in genome.to_seed_dict().items())
    rule_source = inspect.getsource(rule)
    return _TEMPLATE.format(
        class_name=class_name,
        module_name=module_name if module_name.isidentifier() else class_name.lower(),
        genome_hash=genome.hash,
        description=genome.describe(),
        rule_source=rule_source.split('"""', 2)[2].lstrip("\n"),
        genome_literal="{" + items + "}",
        total_steps=total_steps,
    )


def write_optimizer_file(
    genome: Genome, path: str | Path, class_name: str = "EvolvedOptimizer", total_steps: int = 1000
) -> Path:
    """Write :func:`render_optimizer_source` to ``path`` (parent folders created)."""
    path = Path(path)
    source = render_optimizer_source(genome, class_name, total_steps, module_name=path.stem)
    compile(source, str(path), "exec")  # never write a file that does not parse
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path
