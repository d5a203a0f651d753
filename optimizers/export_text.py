"""The exported file's text besides its template: the rule written out for a PyTorch user, and
the rule code cut down to what the exported class runs.

**The rule, written out** (:func:`rule_lines`): what one step computes, with the genome's own
numbers, from its canonical form (:meth:`Genome.canonical`: the same update in its simplest
terms). For example, for the registry's Adam::

    m = 0.9 m + 0.1 g                                   (first moment, from m = 0)
    v = 0.999 v + 0.001 g^2                             (second moment, from v = 0)
    m_hat = m / (1 - 0.9^t); v_hat = v / (1 - 0.999^t)  (bias correction, t = ...)
    p = p (1 - lr 0.0001)                               (decoupled weight decay)
    p = p - lr (m_hat / (sqrt(v_hat) + 1e-08))          (the update)

**Only the code it needs** (:func:`prune`): :func:`optimizers.export.rule_source` joins the
rule modules into one; :func:`prune` then deletes, from that text (formatting and comments
of what stays untouched):

* the docstrings (module, classes, functions, and the string under a constant): they are
  written for evo's developers, and the exported file's own docstring explains the rule;
* in the exact path's term loop (``for j in active_terms: if j == 0: ... elif j == 1: ...``)
  the branches of the terms the genome does not use (the final ``else: raise`` stays, so
  another genome with other terms fails loudly rather than silently);
* every top-level function, class or constant that the exported class cannot reach
  (names referenced from :data:`ROOT`, transitively, after the deletions above).

What remains is the code the exported class runs, unchanged: the exactness tests compare its
trajectories with ``GenomeOptimizer``'s bit for bit.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from optimizers.genome import Genome, Term

TERM_FORMULAS: dict[Term, str] = {
    Term.GRAD: "g",
    Term.MOMENTUM: "m_hat",
    Term.RMS_NORM: "g / (sqrt(v_hat) + {eps})",
    Term.ADAM_TERM: "m_hat / (sqrt(v_hat) + {eps})",
    Term.SIGN_GRAD: "sign(g)",
    Term.SQRT_GRAD: "g / (|g| + {eps})",
    Term.NESTEROV: "(m_hat + 0.9 (g - m_hat))",
    Term.LION: "sign(0.9 m_prev + 0.1 g)",
    Term.NADAM: "({b1} m / (1 - {b1}^(t+1)) + {one_minus_b1} g / (1 - {b1}^t)) / (sqrt(v_hat) + {eps})",
}
"""Each term in plain text (m_prev: the first moment before this step's update)."""
READS_M = {Term.MOMENTUM, Term.ADAM_TERM, Term.NESTEROV, Term.LION, Term.NADAM}
READS_V = {Term.RMS_NORM, Term.ADAM_TERM, Term.NADAM}
NOTE_COLUMN = 52
"""Notes start here (a longer line puts its note right after it)."""


def _g(x: float) -> str:
    return f"{x:.6g}"


def _sum(genome: Genome) -> str:
    """``0.873 g / (sqrt(v_hat) + 1e-08) + 2.73 m_hat / (...)`` (weight 1 left out; m and v
    for m_hat and v_hat without bias correction)."""
    values = {"eps": _g(genome.eps), "b1": _g(genome.beta1), "one_minus_b1": _g(1.0 - genome.beta1)}
    parts = []
    for i, (term, weight) in enumerate(genome.terms):
        formula = TERM_FORMULAS.get(term, f"{term.name} (see the code)").format(**values)
        sign = "-" if weight < 0 else ("+" if i else "")
        size = "" if abs(weight) == 1.0 else f"{_g(abs(weight))} "
        parts.append(f"{sign} {size}{formula}".strip() if i or weight < 0 else f"{size}{formula}")
    text = " ".join(parts)
    return text if genome.use_bias_correction else text.replace("m_hat", "m").replace("v_hat", "v")


def rule_lines(genome: Genome) -> list[str]:
    """What one step does to a parameter p with gradient g, line by line (comment on the right)."""
    c = genome.canonical()
    active = set(c.term_types)
    steps: list[tuple[str, str]] = []
    schedule = ["lr"]
    if c.use_warmup:
        steps.append(
            (f"w = min(1, (k + 1) / {c.warmup_steps})", "linear warmup, k = the group's step from 0")
        )
        schedule.append("w")
    if c.use_cosine_decay:
        steps.append(("c = (1 + cos(pi min(k, K) / K)) / 2", "cosine decay, K = total_steps"))
        schedule.append("c")
    rate = "lr"
    if len(schedule) > 1:
        steps.append(("lr_t = " + " ".join(schedule), "the step's learning rate"))
        rate = "lr_t"
    if c.use_gradient_clipping:
        steps.append((f"g = clamp(g, -{_g(c.clip_value)}, {_g(c.clip_value)})", "element-wise clipping"))
    reads_m, reads_v = bool(active & READS_M) and c.use_m, bool(active & READS_V) and c.use_v
    if reads_m:
        steps.append((f"m = {_g(c.beta1)} m + {_g(1 - c.beta1)} g", "first moment, from m = 0"))
    if reads_v:
        steps.append((f"v = {_g(c.beta2)} v + {_g(1 - c.beta2)} g^2", "second moment, from v = 0"))
    if bool(active & READS_V) and not c.use_v:
        steps.append(("v = g^2", "no second-moment average"))
    if c.use_bias_correction:
        hats = [f"m_hat = m / (1 - {_g(c.beta1)}^t)" if reads_m else "m_hat = m"] if active & READS_M else []
        if active & READS_V:
            hats.append(f"v_hat = v / (1 - {_g(c.beta2)}^t)" if reads_v else "v_hat = v")
        steps.append(("; ".join(hats), "bias correction, t = the parameter's step from 1"))
    steps.append((f"p = p (1 - {rate} {_g(c.weight_decay)})", "decoupled weight decay"))
    steps.append((f"p = p - {rate} ({_sum(c)})", "the update"))
    width = min(max(len(code) for code, _ in steps), NOTE_COLUMN)
    return [f"{code.ljust(width)}  ({note})" if note else code for code, note in steps]

ROOT = "RuleOptimizer"
TERM_VARIABLE = "j"
"""The loop variable of the exact path's term loop, ``for j in active_terms``."""


def _docstring_nodes(tree: ast.Module) -> list[ast.Expr]:
    """Every docstring: first statement of a module/class/function, or a string under a constant."""
    found = []
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        for i, stmt in enumerate(body):
            is_string = (
                isinstance(stmt, ast.Expr)
                and isinstance(stmt.value, ast.Constant)
                and isinstance(stmt.value.value, str)
            )
            if not is_string:
                continue
            first = i == 0 and isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
            under_constant = i > 0 and isinstance(body[i - 1], ast.Assign | ast.AnnAssign)
            if first or under_constant:
                found.append(stmt)
    return found


def _term_of(test: ast.expr) -> int | None:
    """K for a test ``j == K`` (K an int, or a term's name such as ``ORTHO``), else None."""
    if not (
        isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == TERM_VARIABLE
        and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)
    ):  # fmt: skip
        return None
    right = test.comparators[0]
    if isinstance(right, ast.Constant) and type(right.value) is int:
        return right.value
    if isinstance(right, ast.Name) and right.id in Term.__members__:
        return int(Term[right.id])
    return None


FEATURE_GUARDS = {
    "c.get('ortho', 0.0) != 0.0": "ortho",
    "'trust_decay' in s": "trust",
}
"""``if`` tests (as :func:`ast.unparse` writes them) whose block only a genome with the feature
runs: ORTHO among its terms, or ``use_trust_ratio``; the block is dropped otherwise."""


def _guarded_blocks(tree: ast.Module, features: set[str]) -> Iterable[ast.If]:
    """``if`` statements (no ``else``) guarded by a feature the genome does not use."""
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and not node.orelse:
            feature = FEATURE_GUARDS.get(ast.unparse(node.test))
            if feature is not None and feature not in features:
                yield node


def genome_features(genome: Genome) -> set[str]:
    """The :data:`FEATURE_GUARDS` features ``genome`` uses."""
    features = {"ortho"} if Term.ORTHO in genome.term_types else set()
    return features | ({"trust"} if genome.use_trust_ratio else set())


def _term_chains(tree: ast.Module) -> Iterable[list[ast.If]]:
    """The ``if j == K: ... elif ...`` chains directly inside a ``for j in ...`` loop."""
    for loop in ast.walk(tree):
        if not (
            isinstance(loop, ast.For)
            and isinstance(loop.target, ast.Name)
            and loop.target.id == TERM_VARIABLE
        ):
            continue
        for stmt in loop.body:
            chain: list[ast.If] = []
            node: ast.stmt = stmt
            while isinstance(node, ast.If) and _term_of(node.test) is not None:
                chain.append(node)
                node = node.orelse[0] if len(node.orelse) == 1 else ast.Pass()
            if chain:
                yield chain


def _branch_lines(branch: ast.If) -> tuple[int, int]:
    """First and last line (1-based) of one branch: its test line through its body."""
    return branch.lineno, branch.body[-1].end_lineno or branch.lineno


def prune(code: str, terms: Iterable[int], features: Iterable[str] = ("ortho", "trust")) -> str:
    """``code`` without docstrings, unused term branches, blocks of unused features
    (:data:`FEATURE_GUARDS`) and unreachable definitions (see the module)."""
    keep_terms = set(terms)
    tree = ast.parse(code)
    lines = code.splitlines()
    dropped: set[int] = set()  # 0-based line indices
    renamed: set[int] = set()  # lines whose "elif" becomes "if" (the chain's first kept branch)

    def drop(first: int, last: int) -> None:
        dropped.update(range(first - 1, last))

    for doc in _docstring_nodes(tree):
        drop(doc.lineno, doc.end_lineno or doc.lineno)
    for block in _guarded_blocks(tree, set(features)):
        drop(block.lineno, block.end_lineno or block.lineno)
    for chain in _term_chains(tree):
        kept = [b for b in chain if _term_of(b.test) in keep_terms]
        if not kept:
            continue  # the genome uses none of them: leave the chain whole
        for branch in chain:
            if branch not in kept:
                drop(*_branch_lines(branch))
        if kept[0] is not chain[0]:
            renamed.add(kept[0].lineno - 1)
    pruned = "\n".join(
        line.replace("elif ", "if ", 1) if i in renamed else line
        for i, line in enumerate(lines)
        if i not in dropped
    )
    return _drop_unreachable(pruned)


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _defined(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.FunctionDef | ast.ClassDef):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def _drop_unreachable(code: str) -> str:
    """Top-level definitions that :data:`ROOT` cannot reach removed, with the blank lines and
    comments just above each (imports and other statements stay)."""
    tree = ast.parse(code)
    owner = {name: node for node in tree.body for name in _defined(node)}
    reached: set[str] = set()
    todo = [ROOT]
    while todo:
        name = todo.pop()
        if name in reached or name not in owner:
            continue
        reached.add(name)
        todo += _names(owner[name])
    lines = code.splitlines()
    dropped: set[int] = set()
    previous_end = 0
    for node in tree.body:
        names = _defined(node)
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        if names and not any(n in reached for n in names):
            dropped.update(range(previous_end, node.end_lineno or first))
        previous_end = node.end_lineno or first
    return "\n".join(line for i, line in enumerate(lines) if i not in dropped).strip("\n") + "\n"
