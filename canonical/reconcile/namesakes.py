"""The only namesakes in town. A link on names and a town alone is held to a stricter bar than other
links (engine.Settings.name_and_place_threshold) because a town may hold several people of one
name, and the two records may be any two of them. When the records themselves show nobody else to
confuse, that reason is gone and a lower bar applies (Settings.lone_threshold): no third cluster
holds the name in that town, and neither cluster holds an email address. The second condition
matters because two people's clusters that each hold an address were kept apart by different
addresses, which the pair's own weight never saw; and someone who gave no system an address is
rarer than someone who did, so two such parts share more than the name. Nothing here reads
anything but the records."""
from __future__ import annotations

import numpy as np

from canonical.reconcile import blocking, places
from canonical.reconcile.features import Features, name_columns


def name_place_keys(features: Features) -> np.ndarray:
    """(rows x keys) small ints, -1 where none: each nickname root + family name in each place the
    record is seen at. Kept per frozen table: every pass, incremental ones too, reads them."""
    if "name_place_keys" in features.derived:
        return features.derived["name_place_keys"]
    family = name_columns(features)[1]
    names = np.stack([blocking._combine(root, family) for root in blocking.root_columns(features)], axis=1)
    where = places.place_columns(features).astype(np.int64)
    known = names >= 0
    compact = np.full(names.shape, -1, dtype=np.int64)
    compact[known] = np.unique(names[known], return_inverse=True)[1].ravel()
    width = int(where.max(initial=-1)) + 2
    keys = compact[:, :, None] * width + where[:, None, :]
    keys[(compact[:, :, None] < 0) | (where[:, None, :] < 0)] = -1
    features.derived["name_place_keys"] = keys.reshape(len(features), -1)
    return features.derived["name_place_keys"]


def alone_in_town(features: Features, labels: np.ndarray, a: np.ndarray, b: np.ndarray,
                  systems: np.ndarray) -> np.ndarray:
    """Per pair of rows in two clusters: whether they share a name in a place that no third cluster
    could be meant by. `systems`: per cluster label, the bitmask of its records' systems. A third
    cluster that shares a system with both sides is someone else (a system seldom holds one person
    twice), so it is no rival; any other holder of a name-and-place key the two share is."""
    n = len(features)
    keys = name_place_keys(features)
    ka, kb = keys[a], keys[b]
    shared = ((ka[:, :, None] == kb[:, None, :]) & (ka[:, :, None] >= 0)).any(axis=2)
    asked = np.zeros(int(keys.max(initial=-1)) + 2, dtype=bool)  # the last entry serves -1, never asked
    asked[ka[shared]] = True
    held = np.flatnonzero(asked[keys.ravel()])  # only the keys asked about: an incremental pass stays cheap
    cells = np.unique(keys.ravel()[held] * n + labels[held // keys.shape[1]])
    cell_key, cell_label = cells // n, cells % n
    start, stop = np.searchsorted(cell_key, ka, "left"), np.searchsorted(cell_key, ka, "right")
    found = shared.any(axis=1)
    for i in np.flatnonzero(found & ((stop - start) * shared > 2).any(axis=1)).tolist():
        mx, my = systems[labels[a[i]]], systems[labels[b[i]]]
        for j in np.flatnonzero(shared[i]).tolist():
            holders = cell_label[start[i, j]:stop[i, j]]
            rivals = holders[(holders != labels[a[i]]) & (holders != labels[b[i]])]
            if (((systems[rivals] & mx) == 0) | ((systems[rivals] & my) == 0)).any():
                found[i] = False
                break
    return found


def without_email(features: Features, labels: np.ndarray) -> np.ndarray:
    """Per cluster label: whether none of its records holds an email address."""
    holds = np.zeros(len(labels), dtype=bool)
    holds[labels[features.column("email1") >= 0]] = True
    return ~holds
