"""Fill-in-the-middle training data (Bavarian et al., 2022, "Efficient Training of Language
Models to Fill in the Middle"), in the PSM layout.

With probability `fim_rate`, a training chunk is cut at two random character
positions into prefix, middle and suffix, each encoded on its own, and laid out as

    <fim_prefix> prefix <fim_suffix> suffix <fim_middle> middle </s>

so the model learns to write a middle that joins a prefix to a suffix and to end
it with ``</s>``; the other chunks stay left to right. The paper finds that a rate
of 0.5 costs nothing left to right ("FIM for free") at its scales; our
measurement at ours is in trained-models/README.md. At serving, the engine lays
out the text before and after the cursor the same way and searches the middle.

Cuts are drawn by a generator seeded with (seed, file index), so the samples are
the same in every run and after every resume.
"""
from __future__ import annotations

import numpy as np

from pycodecomplete.bpe import EOS_ID, FIM_MIDDLE_ID, FIM_PREFIX_ID, FIM_SUFFIX_ID

# Tokens a FIM layout may add to its chunk: three sentinels, the end token, and a token
# split in two at each cut (byte-level BPE re-encodes the pieces on their own).
RESERVE = 8


def split_points(text: str, rng: np.random.Generator) -> tuple[str, str, str]:
    """(prefix, middle, suffix): `text` cut at two uniformly random character positions."""
    low, high = sorted(int(x) for x in rng.integers(0, len(text) + 1, size=2))
    return text[:low], text[low:high], text[high:]


def psm_ids(prefix: str, middle: str, suffix: str, tokenizer) -> np.ndarray:
    """The PSM layout's ids; the three parts concatenate back to the chunk."""
    encoded = tokenizer.encode_batch([prefix, suffix, middle])
    return np.concatenate([[FIM_PREFIX_ID], encoded[0], [FIM_SUFFIX_ID], encoded[1], [FIM_MIDDLE_ID], encoded[2],
                           [EOS_ID]]).astype(np.int32)


def prompt_ids(prefix_ids: np.ndarray, suffix_ids: np.ndarray) -> np.ndarray:
    """What the engine reads to fill the middle: the layout up to where the middle starts."""
    return np.concatenate([[FIM_PREFIX_ID], prefix_ids, [FIM_SUFFIX_ID], suffix_ids, [FIM_MIDDLE_ID]]).astype(np.int32)
