"""Only the rule code an exported class needs: the copied rule source, pruned by line ranges.

:func:`optimizers.export.rule_source` joins the rule modules into one; :func:`prune` then
deletes, from that text (formatting and comments of what stays untouched):

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
    """K for a test ``j == K`` (K an int), else None."""
    if (
        isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == TERM_VARIABLE
        and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)
        and isinstance(test.comparators[0], ast.Constant) and type(test.comparators[0].value) is int
    ):  # fmt: skip
        return test.comparators[0].value
    return None


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


def prune(code: str, terms: Iterable[int]) -> str:
    """``code`` without docstrings, unused term branches and unreachable definitions (see the module)."""
    keep_terms = set(terms)
    tree = ast.parse(code)
    lines = code.splitlines()
    dropped: set[int] = set()  # 0-based line indices
    renamed: set[int] = set()  # lines whose "elif" becomes "if" (the chain's first kept branch)

    def drop(first: int, last: int) -> None:
        dropped.update(range(first - 1, last))

    for doc in _docstring_nodes(tree):
        drop(doc.lineno, doc.end_lineno or doc.lineno)
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
