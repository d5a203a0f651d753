"""The optimizer genome: a weighted sum of primitive update terms plus hyperparameters.

A genome describes the update rule (seed ``evolutionary_optimizer_colab.ipynb``)

.. math::

    \\Delta w_t = \\eta_t \\sum_k \\alpha_k T_k(g_t, \\hat m_t, \\hat v_t), \\qquad
    w_{t} = w_{t-1}(1 - \\eta_t \\lambda) - \\Delta w_t

with the primitive terms :class:`Term` (their formulas: :mod:`optimizers.rule`), a log-scaled learning
rate, eps and decoupled weight decay, EMA coefficients ``beta1``/``beta2`` and flags for
momentum, second moment, bias correction, element-wise gradient clipping, linear warmup and
cosine decay.

The seed's JSON form (integer ``term_types``, ``alphas``, ...) loads unchanged::

    >>> g = Genome.model_validate({"term_types": [3], "alphas": [1.0]})
    >>> g.terms
    ((<Term.ADAM_TERM: 3>, 1.0),)

Two genomes that compute the same update share a :attr:`Genome.hash` (see
:meth:`Genome.canonical`).
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
from collections.abc import Mapping
from functools import cached_property
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

MAX_TERMS = 4
HASH_DIGITS = 10
"""Significant digits of every float in the hashed canonical form."""


class Term(enum.IntEnum):
    """The primitive update terms: the seed's seven (0..6, numbered as in the seed), the
    extended set's LION (7) and NADAM (8) and the scaled set's ORTHO (9), Muon's orthogonalised
    momentum (formulas: :mod:`optimizers.rule`)."""

    GRAD = 0
    MOMENTUM = 1
    RMS_NORM = 2
    ADAM_TERM = 3
    SIGN_GRAD = 4
    SQRT_GRAD = 5
    NESTEROV = 6
    LION = 7
    NADAM = 8
    ORTHO = 9


SEED_TERMS: tuple[Term, ...] = tuple(Term)[:7]
"""The seed's seven terms (``population.terms: seed``)."""
EXTENDED_TERMS: tuple[Term, ...] = tuple(Term)[:9]
"""The seven plus LION and NADAM (``population.terms: extended``)."""
SCALED_TERMS: tuple[Term, ...] = tuple(Term)
"""The extended nine plus ORTHO (``population.terms: scaled``; the GA also flips the trust-ratio
flag then)."""
NEW_GENES = {"use_trust_ratio": False}
"""Genes added after the seed, with their defaults: left out of the seed JSON form (and so of
the hashed canonical form) while at their default, so older genomes keep their hashes."""


def _parse_term(value: Any) -> Term:
    """Accept a term as its seed integer, its name (``"ADAM_TERM"``) or a :class:`Term`."""
    if isinstance(value, Term):
        return value
    if isinstance(value, bool):
        raise ValueError(f"unknown term {value!r}")
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        try:
            return Term(int(value))
        except ValueError:
            raise ValueError(_unknown(value)) from None
    if isinstance(value, str):
        name = value.strip().upper().removeprefix("TERM.")
        if name in Term.__members__:
            return Term[name]
    raise ValueError(_unknown(value))


def _unknown(value: Any) -> str:
    return f"unknown term {value!r}; valid: 0..{len(Term) - 1} or {[t.name for t in Term]}"


TermField = Annotated[Term, BeforeValidator(_parse_term)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class Genome(BaseModel):
    """One candidate update rule. Field defaults are the seed's ``Genome`` defaults.

    Ranges are the mathematically valid ones (betas in [0, 1), finite logs, 1..4 terms); the
    GA's mutation clamps are narrower and live with the operators.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    term_types: tuple[TermField, ...] = Field(
        default=(Term.GRAD,), min_length=1, max_length=MAX_TERMS, description="Primitive terms, 1..4."
    )
    alphas: tuple[FiniteFloat, ...] = Field(
        default=(1.0,), min_length=1, max_length=MAX_TERMS, description="Weight of each term."
    )
    lr_log10: float = Field(-3.0, ge=-12.0, le=2.0, description="log10 of the base learning rate.")
    beta1: float = Field(0.9, ge=0.0, lt=1.0, description="First-moment EMA coefficient.")
    beta2: float = Field(0.999, ge=0.0, lt=1.0, description="Second-moment EMA coefficient.")
    eps_log10: float = Field(-8.0, ge=-30.0, le=0.0, description="log10 of eps.")
    wd_log10: float = Field(-4.0, ge=-30.0, le=0.0, description="log10 of decoupled weight decay.")
    use_m: bool = Field(True, description="Keep a first-moment EMA (else m = g).")
    use_v: bool = Field(True, description="Keep a second-moment EMA (else v = g^2).")
    use_bias_correction: bool = Field(True, description="Divide m, v by (1 - beta^t).")
    use_gradient_clipping: bool = Field(False, description="Clamp g element-wise to +-clip_value.")
    clip_value: float = Field(1.0, gt=0.0, le=1e6, description="Element-wise clip bound.")
    use_warmup: bool = Field(False, description="Linear warmup of the lr over warmup_steps.")
    warmup_steps: int = Field(100, ge=1, le=10_000_000, description="Warmup length in steps.")
    use_cosine_decay: bool = Field(False, description="Cosine decay of the lr over total_steps.")
    use_trust_ratio: bool = Field(
        False, description="LAMB's per-tensor trust ratio on the summed update (decay included)."
    )

    @model_validator(mode="after")
    def _check_lengths(self) -> Genome:
        if len(self.term_types) != len(self.alphas):
            raise ValueError(
                f"term_types and alphas differ in length ({len(self.term_types)} vs {len(self.alphas)})"
            )
        return self

    # -- derived values ------------------------------------------------------------------
    @property
    def terms(self) -> tuple[tuple[Term, float], ...]:
        """(term, weight) pairs in genome order."""
        return tuple(zip(self.term_types, self.alphas, strict=True))

    @property
    def lr(self) -> float:
        return 10.0**self.lr_log10

    @property
    def eps(self) -> float:
        return 10.0**self.eps_log10

    @property
    def weight_decay(self) -> float:
        return 10.0**self.wd_log10

    def term_weights(self) -> tuple[float, ...]:
        """Dense weight per :class:`Term` (index = term value); repeated terms add up."""
        weights = [0.0] * len(Term)
        for term, alpha in self.terms:
            weights[term] += alpha
        return tuple(weights)

    # -- canonical form and hash ---------------------------------------------------------
    def canonical(self) -> Genome:
        """The simplest genome computing the same update.

        Rewrites that preserve the update exactly (in real arithmetic):

        * NESTEROV = m_hat + 0.9 (g - m_hat) = 0.1 MOMENTUM + 0.9 GRAD;
        * NADAM without ``use_m`` (beta1 = 0) = RMS_NORM; without bias correction
          = beta1 ADAM_TERM + (1 - beta1) RMS_NORM;
        * without ``use_m`` (m = g): MOMENTUM = GRAD and ADAM_TERM = RMS_NORM;
        * without ``use_v`` (v = g^2): RMS_NORM = g / (|g| + eps) = SQRT_GRAD;
        * repeated terms merge (weights add), zero weights drop, terms sort by value;
        * genes no remaining term reads are reset to their defaults (beta1 when no term reads
          m, beta2/use_v when none reads v, eps when none divides by it, the bias-correction
          flag when it changes nothing, clip_value without clipping, warmup_steps without
          warmup). Bias correction of m or v is a no-op without use_m / use_v.

        The result is for comparing and hashing; it may hold more than 4 terms.
        """
        weights = list(self.term_weights())
        nesterov, weights[Term.NESTEROV] = weights[Term.NESTEROV], 0.0
        weights[Term.MOMENTUM] += 0.1 * nesterov
        weights[Term.GRAD] += 0.9 * nesterov
        nadam = weights[Term.NADAM]
        if nadam != 0.0 and not self.use_m:
            weights[Term.RMS_NORM] += nadam
            weights[Term.NADAM] = 0.0
        elif nadam != 0.0 and not self.use_bias_correction:
            weights[Term.ADAM_TERM] += self.beta1 * nadam
            weights[Term.RMS_NORM] += (1.0 - self.beta1) * nadam
            weights[Term.NADAM] = 0.0
        if not self.use_m:
            weights[Term.GRAD] += weights[Term.MOMENTUM]
            weights[Term.RMS_NORM] += weights[Term.ADAM_TERM]
            weights[Term.MOMENTUM] = weights[Term.ADAM_TERM] = 0.0
        if not self.use_v:
            weights[Term.SQRT_GRAD] += weights[Term.RMS_NORM]
            weights[Term.RMS_NORM] = 0.0
        weights = [_round(w) for w in weights]
        kept = [(Term(i), w) for i, w in enumerate(weights) if w != 0.0] or [(Term.GRAD, 0.0)]
        active = {t for t, _ in kept}

        # ORTHO reads the raw m on matrices and is ADAM_TERM on every other tensor
        corrects_m = bool(active & {Term.MOMENTUM, Term.ADAM_TERM, Term.NADAM, Term.ORTHO})
        reads_m = corrects_m or Term.LION in active  # LION reads the raw m: no bias correction
        reads_v = bool(active & {Term.RMS_NORM, Term.ADAM_TERM, Term.NADAM, Term.ORTHO})
        reads_eps = bool(active & {Term.RMS_NORM, Term.ADAM_TERM, Term.SQRT_GRAD, Term.NADAM, Term.ORTHO})
        bias_matters = self.use_bias_correction and ((corrects_m and self.use_m) or (reads_v and self.use_v))
        defaults = Genome()
        # model_construct: splitting NESTEROV or NADAM in two can leave 5 distinct terms, beyond the
        # 1..4 a genome may be written with; every value here is already validated.
        return Genome.model_construct(
            term_types=tuple(t for t, _ in kept),
            alphas=tuple(w for _, w in kept),
            lr_log10=_round(self.lr_log10),
            beta1=_round(self.beta1) if reads_m and self.use_m else defaults.beta1,
            beta2=_round(self.beta2) if reads_v and self.use_v else defaults.beta2,
            eps_log10=_round(self.eps_log10) if reads_eps else defaults.eps_log10,
            wd_log10=_round(self.wd_log10),
            use_m=self.use_m if reads_m else defaults.use_m,
            use_v=self.use_v if reads_v else defaults.use_v,
            use_bias_correction=bias_matters,
            use_gradient_clipping=self.use_gradient_clipping,
            clip_value=_round(self.clip_value) if self.use_gradient_clipping else defaults.clip_value,
            use_warmup=self.use_warmup,
            warmup_steps=self.warmup_steps if self.use_warmup else defaults.warmup_steps,
            use_cosine_decay=self.use_cosine_decay,
            use_trust_ratio=self.use_trust_ratio,
        )

    @cached_property
    def hash(self) -> str:
        """Stable 16-hex-digit SHA-256 of the canonical form (same update => same hash).

        Computed once per instance (the model is frozen); :meth:`model_copy` with changes
        drops the cached value, so a changed copy never carries its source's hash.
        """
        payload = json.dumps(self.canonical().to_seed_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Genome:
        """A copy (pydantic's); with ``update`` the cached :attr:`hash` is recomputed on demand."""
        copied = super().model_copy(update=update, deep=deep)
        if update:
            copied.__dict__.pop("hash", None)
        return copied

    # -- (de)serialisation ---------------------------------------------------------------
    def to_seed_dict(self) -> dict[str, Any]:
        """The seed's JSON form: integer term types, plain floats and bools; a gene added after
        the seed (:data:`NEW_GENES`) only when it differs from its default."""
        data = self.model_dump()
        for name, default in NEW_GENES.items():
            if data[name] == default:
                del data[name]
        data["term_types"] = [int(t) for t in self.term_types]
        data["alphas"] = list(self.alphas)
        return data

    def describe(self) -> str:
        """One human line, e.g. ``2.0*ADAM_TERM + 0.5*SIGN_GRAD | lr 1.0e-03 ...``."""
        terms = " + ".join(f"{a:.4g}*{t.name}" for t, a in self.terms)
        flags = [
            name
            for name, on in (
                ("m", self.use_m),
                ("v", self.use_v),
                ("bc", self.use_bias_correction),
                (f"clip{self.clip_value:.3g}", self.use_gradient_clipping),
                (f"warmup{self.warmup_steps}", self.use_warmup),
                ("cosine", self.use_cosine_decay),
                ("trust", self.use_trust_ratio),
            )
            if on
        ]
        return (
            f"{terms} | lr {self.lr:.2e} b1 {self.beta1:.4g} b2 {self.beta2:.4g} "
            f"eps {self.eps:.1e} wd {self.weight_decay:.1e} | {' '.join(flags) or '-'}"
        )


def _round(x: float) -> float:
    """Round to HASH_DIGITS significant digits, and turn -0.0 into 0.0."""
    if x == 0.0 or not math.isfinite(x):
        return 0.0 if x == 0.0 else x
    return float(f"{x:.{HASH_DIGITS}g}") + 0.0
