"""The matching engine: block -> compare -> learn (EM) -> score -> rules -> cluster, on a Features
table. `resolve` does one pass over all rows or, incrementally, over a neighbourhood of rows; it
knows nothing of the store or of files (match.py and reconcile() feed it)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from canonical.reconcile import blocking, cluster, model as fs, namesakes
from canonical.reconcile.compare import FIELDS, Comparator
from canonical.reconcile.features import Features

EMAIL, PHONE, GIVEN, FAMILY = (FIELDS.index(name) for name in ("email", "phone", "given", "family"))
FAMILY_DIFFERENT, EMAIL_DIFFERENT = 3, 3
DETERMINISTIC = 64.0  # weight given to rule-made links: above any score, so they are kept first
PLACE, PLACE_SAME = FIELDS.index("place"), 1
# field -> its levels (1..n) that count as agreement on something more than a name
IDENTIFYING = {FIELDS.index("email"): 2, FIELDS.index("phone"): 1, FIELDS.index("birth"): 2,
               FIELDS.index("address"): 3}
STRONG = {**IDENTIFYING, FIELDS.index("address"): 2}
RULES = ("score", "exact_email", "exact_phone", "external_id", "concord_id", "override")
TRAINING_SAMPLE = 500_000


@dataclass
class Settings:
    threshold: float = 0.5     # posterior probability a scored pair needs to become a link
    # ... when only the names and the town agree: that is all two namesakes in one town share, a big
    # town holds many, and a wrong merge (one person's phone written into another's accounts) costs
    # more than a missed one, about four times as much
    name_and_place_threshold: float = 0.8
    # Pairs that agree on nothing identifying (names, perhaps a postcode or a town) are not held to
    # their bar alone: the clustering weighs each with what the two clusters' systems say (a system
    # seldom holds one person twice, cluster.join_weak). A names-and-town pair from `weak_floor` on
    # is handed to it, since a cluster without a record of the other's system can lift it over its bar.
    weak_floor: float = 0.1
    # ... and a names-and-town link the stricter bar left out, where no third cluster holds the name in
    # that town and neither side holds an email address (namesakes.py): nobody else could be meant.
    # Chosen reading seed-1 worlds (400k: pairs from 0.3 on ~95% one person) and checked on seed 7.
    lone_threshold: float = 0.3
    block_cap: int = blocking.DEFAULT_CAP
    em_iterations: int = 30


@dataclass
class Overrides:
    """Row pairs people decided on: forced pairs are one person, forbidden pairs never are."""

    forced: set[tuple[int, int]] = field(default_factory=set)
    forbidden: set[tuple[int, int]] = field(default_factory=set)


@dataclass
class Edges:
    """Scored candidate pairs: rows a < b, comparison levels, weight, probability, rule, accepted."""

    a: np.ndarray
    b: np.ndarray
    gamma: np.ndarray
    weight: np.ndarray
    rule: np.ndarray          # index into RULES
    accepted: np.ndarray


@dataclass
class Result:
    labels: np.ndarray        # one cluster label per row (a row number of the cluster)
    edges: Edges
    model: fs.Model
    stats: dict


class Engine:
    """Holds the comparator (with its cache of fuzzy scores) and the learned model across passes."""

    def __init__(self, features: Features, settings: Settings | None = None, say=lambda message: None):
        self.features, self.settings, self.say = features, settings or Settings(), say
        self.comparator = Comparator(features)
        self.model: fs.Model | None = None

    def resolve(self, within: np.ndarray | None = None, touching: np.ndarray | None = None,
                overrides: Overrides | None = None, train: bool | None = None) -> Result:
        overrides = overrides or Overrides()
        a, b, block_stats = blocking.candidate_pairs(self.features, self.settings.block_cap, within, touching)
        a, b = _with_forced(a, b, overrides.forced)
        self.say(f"match: {len(self.features)} records, {len(a)} candidate pairs "
                 f"({sum(block_stats.skipped_by_key.values())} blocks over the cap skipped)")
        gamma = self.comparator.levels(a, b)
        self.say(f"match: {len(a)} pairs scored")
        if self.model is None or train:
            self.model = self.train(a, gamma)
        edges = self.score(a, b, gamma, overrides)
        labels = self.cluster_labels(edges, overrides, within)
        stats = {"candidate_pairs": int(len(a)), "accepted": int(edges.accepted.sum()),
                 "blocks_skipped": block_stats.skipped_by_key, "pairs_by_key": block_stats.pairs_by_key}
        return Result(labels, edges, self.model, stats)

    def update(self, previous: np.ndarray, changed: np.ndarray, overrides: Overrides | None = None
               ) -> tuple[np.ndarray, np.ndarray, Result]:
        """An incremental pass: only changed rows, and the clusters they touch, are resolved again.
        `previous`: last labels (a changed row that is new is its own label); returns the new labels,
        the mask of rows that were looked at and that pass's result. Every other cluster keeps its label."""
        subset = self.neighbourhood(previous, changed, overrides)
        self.say(f"match: incremental pass over {int(subset.sum())} of {len(self.features)} records")
        labels = previous.copy()
        result = self.resolve(within=subset, overrides=overrides, train=False)
        labels[subset] = result.labels[subset]
        return labels, subset, result

    def neighbourhood(self, previous: np.ndarray, changed: np.ndarray, overrides: Overrides | None = None
                      ) -> np.ndarray:
        """The rows an incremental pass resolves again: the changed rows, and every member of the
        clusters that a changed row links to now (scored against all rows, not only the neighbourhood)."""
        a, b, _ = blocking.candidate_pairs(self.features, self.settings.block_cap, touching=changed)
        edges = self.score(a, b, self.comparator.levels(a, b), overrides or Overrides())
        neighbours = np.r_[edges.a[edges.accepted], edges.b[edges.accepted], np.flatnonzero(changed)]
        return changed | np.isin(previous, previous[neighbours])

    def cluster_labels(self, edges: Edges, overrides: Overrides, within: np.ndarray | None = None) -> np.ndarray:
        """Cluster labels from scored edges (only the accepted ones count). A partitioned pass calls
        this on the edges it gathered from its partitions, so both passes cluster alike. First the
        clusters of the links that agree on an identifier (or a rule made), guarded; then the weak
        links (names, perhaps a place), strongest first, each weighed with what the two clusters'
        systems say: a system seldom holds one person twice (cluster.join_weak)."""
        rows = None if within is None else np.flatnonzero(within)
        weak = edges.accepted & (edges.rule == 0) & _weak(edges.gamma)
        strong = edges.accepted & ~weak
        forbidden = _forbidden_minus_forced(overrides)
        labels = cluster.guarded(len(self.features), edges.a[strong], edges.b[strong],
                                 edges.weight[strong], self.comparator, forbidden, rows,
                                 {(min(p), max(p)) for p in overrides.forced})
        rows = np.arange(len(self.features)) if rows is None else rows
        rates, source = self._system_rates(labels, edges, strong, rows)  # learned even with no weak link: kept
        if not weak.any():
            return labels
        # a shared system counts against every weak link; a missing one lifts only a link in one town
        # (measured on generated worlds: lifting name-only links too merged 1.8% of clusters wrongly)
        in_place = _name_and_place_only(edges.gamma[weak])
        bars = np.where(in_place, self.settings.name_and_place_threshold, self.settings.threshold)
        self.say(f"match: {int(weak.sum())} weak links; a system repeats within {rates.repeat:.1%} "
                 f"of confidently linked people")
        concord = self.features.column("concord")
        labels = cluster.join_weak(labels, edges.a[weak], edges.b[weak], edges.weight[weak], self.comparator,
                                   source, rates, rows, np.log2(bars / (1 - bars)), in_place, forbidden, concord)
        # names-and-town links left out: a bar of their own where no one else could be meant (namesakes.py)
        left = np.flatnonzero(weak)[in_place]
        left = left[labels[edges.a[left]] != labels[edges.b[left]]]
        bare = namesakes.without_email(self.features, labels)
        left = left[bare[labels[edges.a[left]]] & bare[labels[edges.b[left]]]]
        if len(left):
            systems = cluster.system_masks(labels, rows, source)[0]
            left = left[namesakes.alone_in_town(self.features, labels, edges.a[left], edges.b[left], systems)]
        if not len(left):
            return labels
        self.say(f"match: {len(left)} names-and-town links between the only namesakes in town")
        bar = np.log2(self.settings.lone_threshold / (1 - self.settings.lone_threshold))
        return cluster.join_weak(labels, edges.a[left], edges.b[left], edges.weight[left], self.comparator,
                                 source, rates, rows, np.full(len(left), bar), np.ones(len(left), dtype=bool),
                                 forbidden, concord)

    def _system_rates(self, labels: np.ndarray, edges: Edges, strong: np.ndarray, rows: np.ndarray
                      ) -> tuple[cluster.SystemRates, np.ndarray]:
        """The rates the model was learned with, if it holds them and knows every system; else learned
        here, from the rows of this pass, and kept with the model. A model is learned in a pass over
        all its records, so that is where they are learned; an incremental pass then reuses them."""
        rates = cluster.SystemRates.from_dict(self.model.systems if self.model is not None else None)
        source = rates.codes(self.features) if rates is not None else None
        if source is not None:
            return rates, source
        confident = strong & ((edges.rule > 0) | (fs.probability(edges.weight.copy()) >= fs.CONFIDENT))
        rates = cluster.SystemRates.learn(labels, edges.a[confident], edges.b[confident], rows, self.features)
        if self.model is not None:
            self.model.systems = rates.as_dict()
        return rates, rates.codes(self.features)

    def train(self, a: np.ndarray, gamma: np.ndarray) -> fs.Model:
        """m from two label-free training sets (pairs sharing an email; pairs sharing a name), each
        teaching the fields it was not selected on; u from random pairs; then the global prior; last,
        the m of fields those sets cannot identify, from the pairs the others link confidently."""
        u = fs.random_u(self.comparator, len(self.features))
        shares_email = gamma[:, EMAIL] == 1
        shares_name = (gamma[:, GIVEN] >= 1) & (gamma[:, GIVEN] <= 2) & (gamma[:, FAMILY] == 1)
        trained = []
        for selected, ignore in ((shares_email, ("email",)), (shares_name, ("given", "family"))):
            sample = _sample(np.flatnonzero(selected))
            if len(sample):
                trained.append((fs.estimate(gamma[sample], u, ignore, self.settings.em_iterations,
                                            on_iteration=self._em_progress), ignore))
        model = fs.combine(trained, u)
        total = len(self.features) * (len(self.features) - 1) / 2
        start = max(shares_email.sum(), 1) / max(total, 1)
        model.prior = 0.5  # weights() then carry no prior: the fixed point below finds it
        model.prior = fs.global_prior(fs.weights(self.features, model, gamma, a), total, start)
        model = fs.learn_from_links(self.features, model, gamma, a)
        self.say(f"match: model trained ({model.iterations} EM iterations, prior {model.prior:.2e})")
        return model

    def _em_progress(self, iteration: int, change: float) -> None:
        self.say(f"match: EM iteration {iteration}, largest change in m {change:.5f}")

    def score(self, a: np.ndarray, b: np.ndarray, gamma: np.ndarray, overrides: Overrides) -> Edges:
        """Weights and probabilities from the model; then the rules, which outrank any score: a
        shared email, phone or external id links unless the names or birth dates say two people; a
        forced pair always links, a forbidden pair never does."""
        weight = fs.weights(self.features, self.model, gamma, a)
        rule = np.zeros(len(a), dtype=np.int8)
        col = self.features.column
        # A shared number is weaker than a shared address: households share landlines, so neither
        # the family name nor the email may differ (the cluster guard still separates members).
        rule[(gamma[:, PHONE] == 1) & (gamma[:, FAMILY] != FAMILY_DIFFERENT)
             & (gamma[:, EMAIL] != EMAIL_DIFFERENT)] = RULES.index("exact_phone")
        rule[gamma[:, EMAIL] == 1] = RULES.index("exact_email")
        concord = col("concord")
        rule[(concord[a] >= 0) & (concord[a] == concord[b])] = RULES.index("concord_id")
        rule[_claimed(self.features, a, b)] = RULES.index("external_id")
        # names-and-town pairs are links-to-be from the floor on: cluster_labels() holds every weak pair
        # to its bar once the clusters' systems are counted
        bar = np.where(_name_and_place_only(gamma), self.settings.weak_floor, self.settings.threshold)
        accepted = ((fs.probability(weight) >= bar) | (rule > 0)) & ~cluster.conflicts(gamma)
        weight = np.where(rule > 0, weight + DETERMINISTIC, weight)
        for pairs, value, name in ((overrides.forced, True, "override"), (overrides.forbidden, False, "override")):
            hit = _pair_mask(a, b, pairs, len(self.features))
            accepted[hit], rule[hit] = value, RULES.index(name)
        weight = np.where(rule == RULES.index("override"), weight + 2 * DETERMINISTIC, weight)
        return Edges(a, b, gamma, weight, rule, accepted)


def _name_and_place_only(gamma: np.ndarray) -> np.ndarray:
    """Pairs in one place that agree on no email, number, birth date or address."""
    agree = np.zeros(len(gamma), dtype=bool)
    for index, levels in IDENTIFYING.items():
        agree |= (gamma[:, index] >= 1) & (gamma[:, index] <= levels)
    return ~agree & (gamma[:, PLACE] == PLACE_SAME)


def _weak(gamma: np.ndarray) -> np.ndarray:
    """Pairs that agree on no email, number, birth date or street address (a shared postcode is a
    town, not an identifier): what links them is names and, at best, a place."""
    agree = np.zeros(len(gamma), dtype=bool)
    for index, levels in STRONG.items():
        agree |= (gamma[:, index] >= 1) & (gamma[:, index] <= levels)
    return ~agree


def _sample(rows: np.ndarray, size: int = TRAINING_SAMPLE) -> np.ndarray:
    if len(rows) <= size:
        return rows
    return rows[np.random.default_rng(0).random(len(rows)) < size / len(rows)]  # no permutation of millions


def _pair_mask(a: np.ndarray, b: np.ndarray, pairs: set[tuple[int, int]], n: int) -> np.ndarray:
    if not pairs:
        return np.zeros(len(a), dtype=bool)
    codes = np.array([min(x, y) * n + max(x, y) for x, y in pairs], dtype=np.int64)
    return np.isin(a.astype(np.int64) * n + b, codes)


def _with_forced(a: np.ndarray, b: np.ndarray, forced: set[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Forced pairs are compared (and linked) even when no block brought them together."""
    if not forced:
        return a, b
    n = int(max(a.max(initial=0), b.max(initial=0), *(max(p) for p in forced))) + 1
    codes = np.unique(np.r_[a.astype(np.int64) * n + b, [min(x, y) * n + max(x, y) for x, y in forced]])
    return codes // n, codes % n


def _forbidden_minus_forced(overrides: Overrides) -> set[tuple[int, int]]:
    forced = {(min(p), max(p)) for p in overrides.forced}
    return {(min(p), max(p)) for p in overrides.forbidden} - forced


def _claimed(features: Features, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairs where one record names the other in its external ids."""
    claims = features.claims
    if not any(claims):
        return np.zeros(len(a), dtype=bool)
    keys = [f"{source}:{source_id}" for source, source_id in features.keys]
    return np.fromiter(((keys[y] in claims[x]) or (keys[x] in claims[y]) for x, y in zip(a.tolist(), b.tolist())),
                       dtype=bool, count=len(a))
