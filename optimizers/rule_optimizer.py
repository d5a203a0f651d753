"""The rule as a ``torch.optim.Optimizer``: :class:`RuleOptimizer`, base of ``GenomeOptimizer``
and of every exported class.

Per param group it picks the formulation (fast multi-tensor, or exact: per tensor, under
``torch.compile`` and for fp16/bf16) and caches the group's coefficients and scalars (the
"plan"); the maths is in :mod:`optimizers.rule`. Imports only ``torch`` and the rule's
modules: :mod:`optimizers.export` copies this source into every exported file.
"""

import torch

from optimizers.rule import LOW_PRECISION, rule_update_
from optimizers.rule_fast import element_chunks, fast_bucket_
from optimizers.rule_parts import (
    bias_correction,
    decay_factor,
    rule_coefficients,
    scheduled_lr,
    step_scalars,
)


def _genome_hyperparameters(genome):
    """A genome's lr, betas (0 for an unused moment), eps and weight decay, as floats."""
    return {
        "lr": 10.0 ** genome["lr_log10"],
        "betas": (genome["beta1"] if genome["use_m"] else 0.0, genome["beta2"] if genome["use_v"] else 0.0),
        "eps": 10.0 ** genome["eps_log10"],
        "weight_decay": 10.0 ** genome["wd_log10"],
    }


def _bias_corrections(coef, t):
    """:func:`bias_correction` of beta1 and beta2 at the int step ``t``: ``1 - beta**t``
    through the very ops the operators dispatch to (``pow``, ``rsub``), minus the Python
    operator wrappers (the same numbers)."""
    return torch.rsub(torch.pow(coef["beta1"], t), 1.0), torch.rsub(torch.pow(coef["beta2"], t), 1.0)


def _snapshot(genome):
    """A copy of a genome dict that edits of the original's lists cannot reach (compared
    with ``==`` to tell whether the genome changed)."""
    return {k: type(v)(v) if isinstance(v, (list, tuple)) else v for k, v in genome.items()}


def _plain(value):
    """A Python number (not a tensor, which may change in place unseen)."""
    return isinstance(value, (int, float))


def _pick(value, idx):
    return [value[i] for i in idx] if isinstance(value, list) else value


def _check(name, value, ok):
    if not ok:
        raise ValueError(f"Invalid {name}: {value}")


class RuleOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` running the rule for a genome dict (seed JSON form).

    Hyperparameters follow torch.optim: ``lr``, ``betas``, ``eps`` and ``weight_decay``
    default to the genome's and live in every param group (torch schedulers read and write
    ``group["lr"]``); the genome's warmup and cosine multiply the group's current lr
    (``schedule="none"`` leaves all scheduling to the user's scheduler). The genome's terms
    and flags are kept per group too (a group may carry its own ``genome``), each group with
    its own copy. ``foreach=None`` (or True) picks the multi-tensor path, in eager mode the
    fast formulation :func:`rule_update_fast_` (fp32/fp64 parameters; it agrees with the exact
    one within rounding); ``foreach=False`` runs the exact :func:`rule_update_` per tensor,
    bit for bit what the workers evaluated (they use it). Under ``torch.compile`` and for
    fp16/bf16 parameters every path runs :func:`rule_update_`. Step counters are
    tensors (``group["step"]`` for the schedule, ``state["step"]`` per parameter for the
    bias correction), so ``torch.compile`` traces ``step()`` without a graph break.

    Per eager step nothing is rebuilt that did not change: a group's coefficients and the
    scalars that do not depend on lr are built once (again when its genome, betas, eps or
    weight decay change), lr and decay once per lr (every step when the genome schedules
    it, or when lr is a tensor), with the same expressions as a per-step build, so the same
    numbers bit for bit (:meth:`_step_scalars`); on the CPU ``foreach=False`` applies
    :func:`rule_update_` to runs of tensors, which on the CPU runs the same single-tensor
    kernels tensor after tensor (:meth:`_exact_buckets`).
    """

    def __init__(
        self,
        params,
        genome,
        lr=None,
        betas=None,
        eps=None,
        weight_decay=None,
        total_steps=1000,
        *,
        foreach=None,
        maximize=False,
        schedule="genome",
    ):
        genome = dict(genome)
        self._coefficients(genome)  # fail early on a malformed genome
        own = _genome_hyperparameters(genome)
        lr = own["lr"] if lr is None else lr
        betas = own["betas"] if betas is None else betas
        eps = own["eps"] if eps is None else eps
        weight_decay = own["weight_decay"] if weight_decay is None else weight_decay
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "total_steps": total_steps,
            "foreach": foreach,
            "maximize": maximize,
            "schedule": schedule,
            "genome": genome,
        }
        self._validate(defaults)
        super().__init__(params, defaults)

    def _validate(self, group):
        lr, betas, eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if isinstance(lr, torch.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        _check("learning rate", lr, lr >= 0.0)
        _check("epsilon value", eps, eps >= 0.0)
        _check("beta parameter at index 0", betas[0], 0.0 <= betas[0] < 1.0)
        _check("beta parameter at index 1", betas[1], 0.0 <= betas[1] < 1.0)
        _check("weight_decay value", wd, wd >= 0.0)
        steps = group["total_steps"]
        _check("total_steps", steps, isinstance(steps, int) and not isinstance(steps, bool) and steps >= 1)
        _check("schedule", repr(group["schedule"]), group["schedule"] in ("genome", "none"))

    def add_param_group(self, param_group):
        param_group = dict(param_group)
        genome = param_group.get("genome", self.defaults["genome"])
        self._coefficients(genome)
        if "genome" in param_group:  # the group's own genome supplies its default hyperparameters
            for key, value in _genome_hyperparameters(genome).items():
                param_group.setdefault(key, value)
        param_group["genome"] = dict(genome)  # every group owns its genome: no shared state
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        group["betas"] = tuple(group["betas"])
        self._validate(group)
        group.setdefault("step", torch.tensor(0.0))
        name = type(self).__name__
        for p in group["params"]:
            if torch.is_complex(p):
                raise ValueError(f"{name} does not support complex parameters")
            if p.is_sparse:
                raise ValueError(f"{name} does not support sparse parameters")

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            if not torch.is_tensor(group.get("step")):
                group["step"] = torch.tensor(float(group.get("step", 0)))
        for st in self.state.values():
            if "step" in st and not torch.is_tensor(st["step"]):
                st["step"] = torch.tensor(float(st["step"]))

    def _coefficients(self, genome, dtype=torch.float32):
        """``rule_coefficients(genome, dtype=dtype)`` as a dict of the caller's own, built once
        for the genome last seen per dtype (validating a group's genome and building its plan
        then cost one build, not three per optimizer). The tensors are shared and never
        modified in place."""
        memo = self.__dict__.setdefault("_coefficient_memo", {})
        seen = memo.get(dtype)
        if seen is None or seen[0] != genome:
            seen = memo[dtype] = (_snapshot(genome), rule_coefficients(genome, dtype=dtype))
        return dict(seen[1])

    def _group_coefficients(self, group, dtype=torch.float32, memo=False):
        """The group's genome as coefficients of ``dtype`` (float32 for the exact path, float64
        for the fast path's Python floats), its own lr/betas/eps/wd replacing the genome's (the
        hyperparameters a user or a scheduler may change). ``memo``: through
        :meth:`_coefficients` (eager steps; a traced step builds them)."""
        genome = group["genome"]
        coef = self._coefficients(genome, dtype) if memo else rule_coefficients(genome, dtype=dtype)
        beta1, beta2 = group["betas"]
        coef["beta1"] = torch.as_tensor(beta1, dtype=dtype)
        coef["beta2"] = torch.as_tensor(beta2, dtype=dtype)
        coef["eps"] = torch.as_tensor(group["eps"], dtype=dtype)
        coef["weight_decay"] = torch.as_tensor(group["weight_decay"], dtype=dtype)
        return coef

    def _group_lr(self, group, coef):
        """The group's lr for this step (the genome's schedule applied), in ``coef``'s dtype."""
        lr = torch.as_tensor(group["lr"], dtype=coef["eps"].dtype)
        if group["schedule"] == "genome":
            lr = scheduled_lr(coef, group["step"], group["total_steps"], lr)
        return lr

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        compiling = torch.compiler.is_compiling()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            self._init_group(group, params)
            buckets = {}
            for p in params:
                buckets.setdefault((p.device, p.dtype), []).append(p)
            if buckets:
                self._step_group(group, buckets, compiling)
            group["step"] = group["step"] + 1  # a new tensor: a loaded state_dict is never mutated
        return loss

    def _init_group(self, group, params):
        """Check the parameters and create their missing state (zero moments, step 0)."""
        name = type(self).__name__
        for p in params:
            if p.grad.is_sparse:
                raise RuntimeError(f"{name} does not support sparse gradients")
            if torch.is_complex(p):
                raise RuntimeError(f"{name} does not support complex parameters")
            state = self.state[p]
            moment_dtype = torch.float32 if p.dtype in LOW_PRECISION else p.dtype
            if len(state) == 0:
                state["step"] = torch.tensor(0.0)
                zeros = {"dtype": moment_dtype, "memory_format": torch.preserve_format}
                state["exp_avg"] = torch.zeros_like(p, **zeros)
                state["exp_avg_sq"] = torch.zeros_like(p, **zeros)
            elif state["exp_avg"].dtype != moment_dtype:  # load_state_dict casts to p's dtype
                state["exp_avg"] = state["exp_avg"].to(moment_dtype)
                state["exp_avg_sq"] = state["exp_avg_sq"].to(moment_dtype)

    def _step_group(self, group, buckets, compiling):
        foreach = group["foreach"]
        exact, scalars = {}, {}
        for key, params in buckets.items():
            states = [self.state[p] for p in params]
            torch._foreach_add_([st["step"] for st in states], 1.0)
            fast = (foreach is None or foreach) and not compiling and key[1] not in LOW_PRECISION
            if fast:  # the exact path's scalar dtype: float32, float64 for float64 parameters
                dtype = torch.float64 if key[1] == torch.float64 else torch.float32
                if dtype not in scalars:
                    scalars[dtype] = self._step_scalars(group, dtype, compiling)
                fast_bucket_(group, scalars[dtype], params, states)
            else:
                exact[key] = (params, states)
        for dtype in (torch.float32, torch.float64):  # float64 parameters get float64 scalars
            chosen = {k: v for k, v in exact.items() if (k[1] == torch.float64) == (dtype == torch.float64)}
            if chosen:
                self._exact_buckets(group, self._step_scalars(group, dtype, compiling), chosen, compiling)

    def _step_scalars(self, group, dtype, compiling):
        """This step's coefficients and :func:`step_scalars` of ``dtype`` for ``group``.

        Returns a dict: ``coef`` (:meth:`_group_coefficients`), ``s`` (:func:`step_scalars` of
        the step's lr) and, for the fast path, ``floats`` (their Python floats, filled lazily).
        Eager steps reuse the group's plan (:meth:`_plan`): the coefficients and every scalar
        but lr and decay are built when the group's genome, betas, eps or weight decay change,
        not per step; lr and decay when the group's lr changes (every step only when the
        genome schedules it, or when lr is a tensor). The very same expressions as a per-step
        build, so the same numbers bit for bit; a genome without warmup and cosine skips
        :func:`scheduled_lr`, which then multiplies the rate by 1.0 twice (exact).
        """
        plan = None if compiling else self._plan(group, dtype)
        if plan is None:  # torch.compile traces the per-step build (no Python-side cache)
            coef = self._group_coefficients(group, dtype)
            return {"coef": coef, "s": step_scalars(coef, self._group_lr(group, coef)), "floats": None}
        coef, base = plan["coef"], group["lr"]
        scheduled = group["schedule"] == "genome" and plan["scheduled"]
        reusable = _plain(base) and not scheduled  # this lr stays this step's rate
        if reusable and plan["current"] is not None and plan["current_lr"] == base:
            return plan["current"]
        lr = torch.as_tensor(base, dtype=dtype)
        if scheduled:
            lr = scheduled_lr(coef, group["step"], group["total_steps"], lr)
        current = {
            "coef": coef,
            "s": {**plan["static"], "lr": lr, "decay": decay_factor(coef, lr)},
            "floats": None,
        }
        plan["current"], plan["current_lr"] = (current, base) if reusable else (None, None)
        return current

    def _plan(self, group, dtype):
        """The group's cached coefficients for ``dtype`` (rebuilt when its genome, betas, eps
        or weight decay differ from those they were built from); None when one of these is
        a tensor (a tensor may change in place unseen: built per step then)."""
        beta1, beta2 = group["betas"]
        hyper = (beta1, beta2, group["eps"], group["weight_decay"])
        if not (_plain(hyper[0]) and _plain(hyper[1]) and _plain(hyper[2]) and _plain(hyper[3])):
            return None
        plans = self.__dict__.setdefault("_plans", {})
        plan = plans.get((id(group), dtype))
        if plan and plan["group"] is group and plan["hyper"] == hyper and plan["genome"] == group["genome"]:
            return plan
        live = {id(g) for g in self.param_groups}  # groups a loaded state_dict replaced: dropped
        for key in [key for key in plans if key[0] not in live]:
            del plans[key]
        coef = self._group_coefficients(group, dtype, memo=True)
        static = step_scalars(coef, torch.ones((), dtype=dtype))
        del static["lr"], static["decay"]  # the only lr-dependent scalars: rebuilt with the lr
        genome = group["genome"]
        plan = {
            "group": group,
            "hyper": hyper,
            "genome": _snapshot(genome),
            "coef": coef,
            "static": static,
            "scheduled": bool(genome["use_warmup"]) or bool(genome["use_cosine_decay"]),
            "current": None,
            "current_lr": None,
        }
        plans[(id(group), dtype)] = plan
        return plan

    def _exact_buckets(self, group, scalars, buckets, compiling):
        """The exact formulation, :func:`rule_update_` (per tensor, or per bucket with
        ``foreach=True`` under ``torch.compile`` and for fp16/bf16 parameters).

        With ``foreach=False`` on the CPU, eager, the tensors go in runs of at most
        ~CHUNK_ELEMENTS elements: a CPU ``_foreach_*`` op applies the single-tensor op to
        each tensor in turn (the same kernel, the same numbers as one tensor at a time), so
        only the Python overhead and the temporaries' size change (one chunk's, not one
        tensor's)."""
        coef, s = scalars["coef"], scalars["s"]
        flags = group["genome"]
        bias = bool(flags["use_bias_correction"])
        clipping = bool(flags["use_gradient_clipping"])
        terms = coef["active_terms"]
        foreach = group["foreach"]
        for (device, _), (params, states) in buckets.items():
            multi = foreach is None or bool(foreach)
            steps = [st["step"] for st in states]
            bc1 = bc2 = None
            if bias and compiling:  # tensor powers: no host sync, no graph break
                t = torch.stack(steps)
                bc1 = list(bias_correction(coef["beta1"], t).unbind())
                bc2 = list(bias_correction(coef["beta2"], t).unbind())
            elif bias:  # torch.optim's eager way: host step counts (CPU tensors), int powers
                counts = [int(t.item()) for t in steps]
                cache = {k: _bias_corrections(coef, k) for k in set(counts)}
                if len(cache) == 1:  # the usual case: one scalar for the whole bucket
                    bc1, bc2 = cache[counts[0]]
                else:
                    bc1 = [cache[k][0] for k in counts]
                    bc2 = [cache[k][1] for k in counts]
            if multi:
                chunks = [list(range(len(params)))]
            elif device.type == "cpu" and not compiling:
                runs = element_chunks([(p, i) for i, p in enumerate(params)])
                chunks = [[i for _, i in run] for run in runs]
            else:
                chunks = [[i] for i in range(len(params))]
            for idx in chunks:
                rule_update_(
                    [params[i] for i in idx],
                    [params[i].grad for i in idx],
                    [states[i]["exp_avg"] for i in idx],
                    [states[i]["exp_avg_sq"] for i in idx],
                    s,
                    _pick(bc1, idx),
                    _pick(bc2, idx),
                    terms,
                    clipping,
                    group["maximize"],
                    coef["unit_terms"],
                )
