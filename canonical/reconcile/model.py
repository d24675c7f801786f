"""The probabilistic part of matching: a Fellegi-Sunter model whose m and u probabilities are
estimated without labels. u (how often two different people agree at each level) starts from
random pairs; expectation-maximisation over the candidate pairs then refines m, u and the share of
matches. A pair's weight is the log2 Bayes factor summed over fields, with a term-frequency
adjustment on exact name agreement: sharing a common name proves less than sharing a rare one."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from canonical.reconcile.compare import FIELDS, LEVELS, Comparator
from canonical.reconcile.features import Features, name_columns

TF_FIELDS = {"given": FIELDS.index("given"), "family": FIELDS.index("family")}
FLOOR = 1e-6
MIN_SUPPORT = 50.0
# Fields whose m the training sets cannot identify: a place is known on few pairs that also carry two
# other comparable fields, and a mixture with one indicator per pair fits any m (it gave a "different
# place" 29% of matches, where the confident links below show about 2%).
LEARNED_FROM_LINKS = ("place",)
CONFIDENT = 0.99


@dataclass
class Model:
    """m[f][l], u[f][l] for level l >= 1 of field f (index 0 unused), and the prior share of matches
    among candidate pairs."""

    m: dict[str, list[float]]
    u: dict[str, list[float]]
    prior: float
    iterations: int = 0
    history: list[float] = field(default_factory=list)
    records: int = 0  # how many records it was learned on
    support: dict[str, float] = field(default_factory=dict)  # expected matches that knew each field
    # how often systems repeat within people and overlap between them (cluster.SystemRates.as_dict()),
    # learned by the clustering of the pass that learned m and u; None until that pass clusters
    systems: dict | None = None

    def log2_factors(self) -> np.ndarray:
        """(fields x max levels + 1) table of log2(m/u); missing (level 0) is 0."""
        width = 1 + max(len(v) for v in LEVELS.values())
        table = np.zeros((len(FIELDS), width))
        for i, name in enumerate(FIELDS):
            m, u = np.array(self.m[name][1:]), np.array(self.u[name][1:])
            table[i, 1:1 + len(m)] = np.log2(np.maximum(m, FLOOR) / np.maximum(u, FLOOR))
        return table

    def as_dict(self) -> dict:
        return {"m": self.m, "u": self.u, "prior": self.prior, "iterations": self.iterations, "records": self.records,
                "systems": self.systems}

    @classmethod
    def from_dict(cls, data: dict) -> "Model":
        """A model stored before a field existed weighs that field 0 (m = u) until it is learned again."""
        neutral = {name: [0.0] + [1.0 / len(levels)] * len(levels) for name, levels in LEVELS.items()}
        return cls(m={**neutral, **data["m"]}, u={**neutral, **data["u"]}, prior=data["prior"],
                   iterations=data.get("iterations", 0), records=data.get("records", 0), systems=data.get("systems"))


def _distribution(levels: np.ndarray, weights: np.ndarray, count: int) -> list[float]:
    """Weighted share of each level 1..count among pairs where the field is known."""
    known = levels > 0
    totals = np.bincount(levels[known], weights=weights[known], minlength=count + 1)[:count + 1]
    share = totals / max(totals[1:].sum(), FLOOR)
    return [0.0] + [float(max(s, FLOOR)) for s in share[1:]]


EXACT_COLUMN = {"email": "email1", "phone": "phone1", "given": "given", "family": "family", "birth": "birth",
                "address": "line1"}


def random_u(comparator: Comparator, rows: int, samples: int = 300_000, seed: int = 0) -> dict[str, list[float]]:
    """u from random pairs, which are almost all two different people. Exact agreement is rare
    enough that a sample under-counts it, so its u is the chance that two random holders of the
    field share a value, from the value frequencies themselves."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, rows, samples), rng.integers(0, rows, samples)
    keep = a != b
    gamma = comparator.levels(a[keep], b[keep])
    u = {}
    for i, name in enumerate(FIELDS):
        counts = np.bincount(gamma[:, i], minlength=len(LEVELS[name]) + 1)[1:].astype(np.float64) + 0.5
        if name not in EXACT_COLUMN:  # agreement common enough (a place) for the sample to count it
            u[name] = [0.0] + [float(x) for x in counts / counts.sum()]
            continue
        exact = _agreement_chance(comparator.features, EXACT_COLUMN[name])
        share = counts[1:] / counts[1:].sum() * (1 - exact)
        u[name] = [0.0, exact] + [float(x) for x in share]
    return u


def _agreement_chance(features: Features, column: str) -> float:
    counts = np.asarray(features.vocab[column].counts, dtype=np.float64)
    if counts.sum() < 2:
        return 0.5
    total = counts.sum()
    # pairs of distinct rows holding one value, over all pairs of rows that hold the field
    return float(max((counts * (counts - 1)).sum() / (total * (total - 1)), FLOOR))


def initial_m() -> dict[str, list[float]]:
    """A starting guess: matches mostly agree exactly and rarely differ."""
    start = {}
    for name, levels in LEVELS.items():
        raw = [0.7] + [0.25 / max(len(levels) - 2, 1)] * (len(levels) - 2) + [0.05]
        start[name] = [0.0] + [r / sum(raw) for r in raw]
    return start


def estimate(gamma: np.ndarray, u: dict, ignore: tuple[str, ...] = (), max_iterations: int = 30,
             tolerance: float = 1e-4, on_iteration=None) -> Model:
    """EM for m and the share of matches among `gamma`'s pairs, u held at the random-pair values.
    Fields in `ignore` (the ones these pairs were blocked on, which always agree) teach nothing."""
    gamma = gamma.copy()
    for name in (*ignore, *LEARNED_FROM_LINKS):
        gamma[:, FIELDS.index(name)] = 0
    model = Model(m=initial_m(), u=u, prior=0.3)
    for iteration in range(1, max_iterations + 1):
        p = probability(_log2_odds(gamma, model))
        m = {n: _distribution(gamma[:, i], p, len(LEVELS[n])) for i, n in enumerate(FIELDS)}
        change = max(abs(x - y) for n in FIELDS for x, y in zip(m[n], model.m[n]))
        model = Model(m=m, u=u, prior=float(min(max(p.mean(), 1e-6), 1 - 1e-6)), iterations=iteration,
                      history=model.history + [change],
                      support={n: float(p[gamma[:, i] > 0].sum()) for i, n in enumerate(FIELDS)})
        if on_iteration:
            on_iteration(iteration, change)
        if change < tolerance:
            break
    return model




def combine(trained: list[tuple[Model, tuple[str, ...]]], u: dict) -> Model:
    """One model from several training sets: each field's m is the mean over the sets that did not
    block on it and saw it known on enough matches (a set that never knows a field, as pairs sharing
    an email never compare places, has nothing to teach about it)."""
    m = {}
    for name in FIELDS:
        sources = [model.m[name] for model, ignored in trained
                   if name not in ignored and model.support.get(name, 0.0) >= MIN_SUPPORT] or [initial_m()[name]]
        m[name] = [float(sum(values) / len(sources)) for values in zip(*sources)]
    for name in LEARNED_FROM_LINKS:
        m[name] = list(u[name])  # weightless until learn_from_links()
    return Model(m=m, u=u, prior=0.5, iterations=sum(model.iterations for model, _ in trained))


def learn_from_links(features: Features, model: Model, gamma: np.ndarray, a: np.ndarray) -> Model:
    """m of each LEARNED_FROM_LINKS field (weightless until now, see combine()) from the pairs that
    every other field already links with posterior >= CONFIDENT: the field's levels among them are
    its levels among matches."""
    linked = probability(weights(features, model, gamma, a)) >= CONFIDENT
    for name in LEARNED_FROM_LINKS:
        levels = gamma[linked, FIELDS.index(name)]
        if np.count_nonzero(levels) >= MIN_SUPPORT:
            model.m[name] = _distribution(levels, np.ones(len(levels)), len(LEVELS[name]))
            model.support[name] = float(np.count_nonzero(levels))
        else:
            model.m[name] = initial_m()[name]
    return model


def global_prior(weight_without_prior: np.ndarray, total_pairs: int, start: float, rounds: int = 10) -> float:
    """The probability that two random records match: the expected number of matches among the
    candidate pairs (all matches are assumed to be among them) over all pairs, to a fixed point."""
    prior, chunk = min(max(start, 1e-12), 0.5), 1 << 21
    for _ in range(rounds):
        odds = np.float32(np.log2(prior / (1 - prior)))
        expected = sum(float(probability(weight_without_prior[i:i + chunk] + odds).sum(dtype=np.float64))
                       for i in range(0, len(weight_without_prior), chunk))
        prior = float(min(max(expected / total_pairs, 1e-12), 0.5))
    return prior


def _log2_odds(gamma: np.ndarray, model: Model) -> np.ndarray:
    table = model.log2_factors().astype(np.float32)  # float32: a million records make 16M pairs
    total = np.full(len(gamma), np.log2(model.prior / (1 - model.prior)), dtype=np.float32)
    for i in range(len(FIELDS)):
        total += table[i][gamma[:, i]]
    return total


def tf_table(features: Features, column: str) -> np.ndarray:
    """log2 factor for exact agreement on each value of `column`: positive for rare values,
    negative for common ones, zero for a value as frequent as the average agreeing pair's."""
    counts = np.asarray(features.vocab[column].counts, dtype=np.float64)
    freq = counts / max(counts.sum(), 1)
    typical = (freq ** 2).sum() / max(freq.sum(), FLOOR)  # the frequency an agreeing random pair has on average
    return np.clip(np.log2(typical / np.maximum(freq, FLOOR)), -4, 4).astype(np.float32)


def tf_adjustment(features: Features, column: str, values: np.ndarray) -> np.ndarray:
    return tf_table(features, column)[values]


def weights(features: Features, model: Model, gamma: np.ndarray, a: np.ndarray, chunk: int = 1 << 21) -> np.ndarray:
    """Each pair's match weight: log2 prior odds + field factors + term-frequency adjustments."""
    tables = {column: tf_table(features, column) for column in TF_FIELDS}
    names = dict(zip(("given", "family"), name_columns(features)))
    weight = np.empty(len(gamma), dtype=np.float32)
    for start in range(0, len(gamma), chunk):
        part, rows = gamma[start:start + chunk], a[start:start + chunk]
        found = _log2_odds(part, model)
        for column, index in TF_FIELDS.items():
            exact = np.flatnonzero(part[:, index] == 1)
            found[exact] += tables[column][names[column][rows[exact]]]
        weight[start:start + chunk] = found
    return weight


def probability(weight: np.ndarray) -> np.ndarray:
    weight = np.clip(weight, -60, 60).astype(np.float32, copy=False)
    np.negative(weight, out=weight)
    np.exp2(weight, out=weight)
    weight += 1
    return np.reciprocal(weight, out=weight)  # in place: 16M pairs make no extra copies
