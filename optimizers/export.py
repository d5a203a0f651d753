"""Export a genome as a standalone ``.py`` file defining a ``torch.optim.Optimizer``.

The file contains the code of the rule's modules, :mod:`optimizers.rule_parts` to
:mod:`optimizers.rule_optimizer` (:data:`RULE_MODULES`; their imports of one another dropped),
cut down to what the genome's class runs (:func:`optimizers.export_text.prune`: no docstrings, no branches
of terms it does not use, no unreachable helpers), so it runs the very code
``GenomeOptimizer`` runs and reproduces its trajectory exactly (``foreach=False``: bit for
bit the workers' trajectory). Its docstring is for the file's user: the rule written out with
the genome's numbers (:func:`optimizers.export_text.rule_lines`), how to use the class, and where the
genome came from (:class:`Provenance`: run, generation, canonical hash, parents, fitness per
task next to the fixed entries', evo version). The class, a small
:class:`~optimizers.rule_optimizer.RuleOptimizer` subclass with the genome baked in, takes
torch.optim's ``lr, betas, eps, weight_decay`` (the genome's by default). It imports only
``torch`` and ``math``.

Example::

    source = render_optimizer_source(EVO_SEED_BEST, class_name="EvolvedOptimizer")
    Path("evolved.py").write_text(source)  # evo export: evo.report.optimizer_file
    # elsewhere, with only torch installed:
    from evolved import EvolvedOptimizer
    opt = EvolvedOptimizer(model.parameters(), total_steps=1000)

The same concept as :mod:`evo.api.export` one layer up, which picks a run's genome and writes
the text this module renders.
"""

from __future__ import annotations

import inspect
import keyword
import math
import re
import textwrap
from importlib import metadata

from pydantic import BaseModel, ConfigDict, Field

from optimizers import rule, rule_fast, rule_optimizer, rule_parts
from optimizers.export_text import genome_features, prune, rule_lines
from optimizers.genome import Genome

RESERVED = {"RuleOptimizer", "GENOME", "torch", "math"}
RULE_MODULES = (rule_parts, rule, rule_fast, rule_optimizer)
"""The modules whose code the exported file holds, in this order."""
OWN_IMPORT = re.compile(r"^from optimizers\.\w+ import (\([^)]*\)|[^\n]*)\n", re.MULTILINE)
"""An import of one rule module by another: the exported file holds them all in one."""


def rule_source() -> tuple[str, str]:
    """(the rule's maths docstring, the code of the rule modules as one module): ``math`` and
    ``torch`` imported once, then each module's code (:data:`RULE_MODULES`) without its
    docstring and imports."""
    doc = inspect.getsource(rule).split('"""', 2)[1]
    parts = ["import math\n\nimport torch"]
    for module in RULE_MODULES:
        code = inspect.getsource(module).split('"""', 2)[2]
        code = OWN_IMPORT.sub("", re.sub(r"^import (math|torch)\n", "", code, flags=re.MULTILINE))
        parts.append(code.strip("\n"))
    return doc, "\n\n\n".join(parts) + "\n"


class FitnessRow(BaseModel):
    """One entry's fitness: the mean over tasks, and per task (mean over seeds)."""

    model_config = ConfigDict(frozen=True)
    name: str
    fitness: float
    per_task: dict[str, float] = Field(default_factory=dict)


class Provenance(BaseModel):
    """Where an exported genome came from (all optional: a registry entry has no run)."""

    model_config = ConfigDict(frozen=True)
    source: str = Field("", description="e.g. 'run quick-1' or 'fixed entry adam of evo's registry'.")
    run: str | None = None
    generation: int | None = Field(None, description="First generation holding the genome.")
    parents: list[str] = Field(default_factory=list, description="Parents' canonical hashes.")
    tasks: list[str] = Field(default_factory=list)
    seeds: list[int] = Field(default_factory=list)
    budget: str | None = None
    fitness: list[FitnessRow] = Field(
        default_factory=list, description="The genome first, then fixed entries."
    )
    known_as: str | None = Field(None, description="The known optimizer the rule is, e.g. 'Adam, lr x1.64'.")


DISTRIBUTION = "evo-optimizer-search"
"""evo's distribution name (pyproject.toml; the same as ``evo.api.version.DISTRIBUTION``)."""


def evo_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


_TEMPLATE = '''"""{class_name}: a PyTorch optimizer exported by evo.

Needs only torch. A torch.optim.Optimizer: lr schedulers, per-group options, state_dict()
and GradScaler work as with any torch optimizer.

What it computes
    For each parameter p with gradient g, one step does:

{rule_lines}

{lr_text}

How to use it
    from {module_name} import {class_name}

    optimizer = {class_name}(model.parameters(){steps_argument})
    for inputs, targets in batches:
        optimizer.zero_grad()
        loss_fn(model(inputs), targets).backward()
        optimizer.step()

{arguments_text}

Where it came from (evo {version})
    Genome {genome_hash} (canonical hash).
{provenance}
"""
# evo's implementation of its update rules (optimizers/rule_parts.py, rule.py, rule_fast.py,
# rule_optimizer.py),
# copied unchanged but for the docstrings and the parts this rule does not use.

{rule_source}

GENOME = {genome_literal}


class {class_name}(RuleOptimizer):
    """The rule of the module docstring as a torch.optim.Optimizer (defaults: the rule's own).

    genome: another genome's dict to run instead (its own hyperparameters); with foreach=False
    it may use only this rule's terms ({terms}): the exact code of the others is not in this file.
    """

    def __init__(self, params, lr={lr}, betas=({beta1}, {beta2}), eps={eps}, weight_decay={weight_decay},
                 total_steps={total_steps}, *, foreach=None, maximize=False, schedule="genome", genome=None):
        if genome is not None and (lr, betas, eps, weight_decay) == {defaults}:
            lr = betas = eps = weight_decay = None  # another genome: its own hyperparameters
        super().__init__(params, dict(GENOME if genome is None else genome), lr, betas, eps, weight_decay,
                         total_steps, foreach=foreach, maximize=maximize, schedule=schedule)
'''


def _paragraph(text: str) -> str:
    """``text`` wrapped to 92 columns, indented by 4 (a docstring section's body)."""
    return textwrap.fill(text, width=92, initial_indent="    ", subsequent_indent="    ")


def _known_as_text(known: str | None) -> str:
    """The sentence naming the known optimizer the rule is (empty without one)."""
    if not known:
        return ""
    like = " ('-like': the same terms with other settings)" if "-like" in known else ""
    return f" Known optimizer: {_text(known)}{like}."


def _schedule_text(genome: Genome, total_steps: int) -> tuple[str, str]:
    """(the usage's ``total_steps`` argument, the sentence on the rule's own lr schedule)."""
    if not (genome.use_warmup or genome.use_cosine_decay):
        return "", "The rule has no lr schedule of its own (total_steps is unused)."
    parts = [f"a linear warmup over {genome.warmup_steps} steps"] if genome.use_warmup else []
    parts += [f"a cosine decay over total_steps (default {total_steps})"] if genome.use_cosine_decay else []
    argument = f", total_steps={total_steps}" if genome.use_cosine_decay else ""
    return argument, (
        f"The rule's own schedule, {' and '.join(parts)}, multiplies the group's lr every step; "
        'schedule="none" turns it off (a torch scheduler then sets the rate alone).'
    )


def _check_class_name(class_name: str) -> None:
    if not (isinstance(class_name, str) and class_name.isidentifier() and class_name.isascii()):
        raise ValueError(f"Invalid class_name: {class_name!r} is not a Python identifier")
    if keyword.iskeyword(class_name) or class_name in RESERVED:
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


def _text(value: object) -> str:
    """Free text (a run or task name) made safe inside the generated docstring: escapes
    backslashes, quotes and control characters, so it can never close the string."""
    return str(value).encode("unicode_escape").decode("ascii").replace('"', '\\"')


def _number(x: float) -> str:
    return "nan" if not math.isfinite(x) else f"{x:.4f}"


def render_provenance(provenance: Provenance | None) -> str:
    """The header's provenance lines (indented by 4), fitness as a small table."""
    if provenance is None:
        return "    (not recorded)"
    p = provenance
    lines = [f"    source: {_text(p.source or '-')}"]
    if p.run is not None:
        lines.append(
            f"    run: {_text(p.run)}, generation {p.generation if p.generation is not None else '?'}"
        )
    lines.append(f"    parents: {', '.join(_text(h) for h in p.parents) or '-'}")
    if p.tasks:
        lines.append(
            f"    tasks: {', '.join(_text(t) for t in p.tasks)}; seeds: {p.seeds}; budget: {_text(p.budget)}"
        )
    if p.fitness:
        lines.append("    fitness (mean over seeds, same tasks/seeds/budget for every row):")
        header = ["entry", "fitness", *p.tasks]
        rows = [
            [_text(r.name), _number(r.fitness), *(_number(r.per_task.get(t, math.nan)) for t in p.tasks)]
            for r in p.fitness
        ]
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        for row in [[_text(h) for h in header], *rows]:
            lines.append(
                "      " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            )
    return "\n".join(lines)


def render_optimizer_source(
    genome: Genome,
    class_name: str = "EvolvedOptimizer",
    total_steps: int = 1000,
    module_name: str = "",
    provenance: Provenance | None = None,
) -> str:
    """Source text of the standalone optimizer module (``module_name`` only feeds its docstring)."""
    _check_class_name(class_name)
    # Re-validate even a Genome: model_construct() can bypass validation, and only numbers
    # and bools may reach the generated source.
    data = genome.model_dump(warnings=False) if isinstance(genome, Genome) else genome
    genome = Genome.model_validate(data)
    if not isinstance(total_steps, int) or isinstance(total_steps, bool) or total_steps < 1:
        raise ValueError(f"Invalid total_steps: {total_steps!r}")
    seed = genome.to_seed_dict()
    items = ", ".join(f"{key!r}: {_literal(value)}" for key, value in seed.items())
    _, rule_body = rule_source()
    rule_body = prune(rule_body, {int(t) for t in genome.term_types}, genome_features(genome))
    steps_argument, schedule_text = _schedule_text(genome, total_steps)
    known = provenance.known_as if provenance is not None else None
    own = rule_optimizer._genome_hyperparameters(seed)
    values = {
        "lr": _literal(own["lr"]),
        "beta1": _literal(float(own["betas"][0])),
        "beta2": _literal(float(own["betas"][1])),
        "eps": _literal(own["eps"]),
        "weight_decay": _literal(own["weight_decay"]),
    }
    defaults = (
        f"({values['lr']}, ({values['beta1']}, {values['beta2']}), {values['eps']}, {values['weight_decay']})"
    )
    return _TEMPLATE.format(
        class_name=class_name,
        module_name=module_name if module_name.isidentifier() else class_name.lower(),
        genome_hash=genome.hash,
        rule_lines="\n".join("        " + line for line in rule_lines(genome)),
        lr_text=_paragraph(
            f"lr is the group's learning rate, {own['lr']:.6g} by default.{_known_as_text(known)}"
        ),
        steps_argument=steps_argument,
        arguments_text=_paragraph(
            "lr, betas, eps and weight_decay are torch.optim's arguments and default to the rule's values. "
            f"{schedule_text} foreach=False runs the exact per-tensor arithmetic evo scored; the default "
            "multi-tensor form differs from it by rounding only."
        ),
        terms=", ".join(t.name for t in dict.fromkeys(genome.term_types)),
        version=_text(evo_version()),
        provenance=render_provenance(provenance),
        rule_source=rule_body.lstrip("\n"),
        genome_literal="{" + items + "}",
        total_steps=total_steps,
        defaults=defaults,
        **values,
    )
