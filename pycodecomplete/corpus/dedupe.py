"""Near-duplicate files, found with MinHash and locality-sensitive hashing (`datasketch`).

Exact copies are caught by a content hash when files are read. Near copies are as
common in site-packages: vendored modules (pip's and setuptools' own copies of
packaging, urllib3, ...), a module and its slightly patched fork, generated files
that differ in a header. Training on several copies overweights them, and a copy
on each side of the split leaks validation text into training.

Each file becomes the set of its 5-word shingles (identifiers, keywords and
numbers, in order); 128 permutations estimate the Jaccard similarity of two sets,
and LSH finds the pairs above `threshold` without comparing every pair. Files are
kept in the order given (the corpus is read in a sorted, stable order), so of a
group of near copies the first one stays and the same ones are dropped on every
run.
"""
from __future__ import annotations

import re
from typing import Sequence

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")
SHINGLE = 5
PERMUTATIONS = 128


def near_duplicates(texts: Sequence[str], threshold: float) -> list[int]:
    """Indices of the texts to drop: each is a near copy of an earlier text kept."""
    if not 0 < threshold < 1 or len(texts) < 2:
        return []
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=PERMUTATIONS)
    kept: dict[str, MinHash] = {}
    dropped = []
    for index, text in enumerate(texts):
        words = _WORD.findall(text)
        shingles = {" ".join(words[i:i + SHINGLE]).encode() for i in range(max(1, len(words) - SHINGLE + 1))}
        if not words:
            continue  # nothing to compare on; exact-duplicate and empty checks already ran
        signature = MinHash(num_perm=PERMUTATIONS, seed=1)
        signature.update_batch(list(shingles))
        # LSH candidates are probable matches: confirm each with the estimated similarity.
        if any(signature.jaccard(kept[key]) >= threshold for key in lsh.query(signature)):
            dropped.append(index)
        else:
            kept[str(index)] = signature
            lsh.insert(str(index), signature)
    return dropped
