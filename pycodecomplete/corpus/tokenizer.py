"""Train the byte-level BPE tokenizer of the GPT-2 family (`pycc tokenizer train`).

GPyT trained `ByteLevelBPETokenizer` with vocabulary 52,000, minimum frequency 2
and the special tokens ``<s> <pad> </s> <unk> <mask>``; we keep the tokens (in that
order, ids 0..4, see `pycodecomplete.bpe`) and the minimum frequency.

Default vocabulary size: 8,000. Measured on the embedded corpus (the standard
library without tests: 688 training files, 10.9M characters; 41 held-out files,
1.2M characters), tokenizer trained on the training split:

    asked vocabulary        1k     2k     4k     8k     16k     32k     52k
    held-out chars/token    2.69   3.15   3.58   3.89   4.09    4.20    4.24 (41,551 tokens: min frequency 2 runs out)
    tokens seen < 10 times  158    183    269    617    2,345   20,127  30,254 (of the training split's tokens)

Past 8k every doubling shortens sequences by 5% or less, while the embedding and
softmax grow linearly and the new tokens are rare: at 32k, 63% of the vocabulary
occurs fewer than ten times in the 2.7M training tokens, too few for a small model
to learn them. GPyT's 52,000 cannot even be reached on this corpus. A corpus a
hundred times larger (a GitHub crawl) can afford 16k-32k: pass `--vocab-size`
to `pycc tokenizer train`, or `--set gpt_vocab_size=N` to `pycc train`.
(Reproduce: `pycc tokenizer train --vocab-size N --json` prints chars/token.)
"""
from __future__ import annotations

import logging
import time
from typing import Iterable

from pycodecomplete.bpe import FIM_TOKENS, SPECIAL_TOKENS, BPETokenizer
from pycodecomplete.errors import PyccError

log = logging.getLogger(__name__)

DEFAULT_VOCAB_SIZE = 8000
MIN_FREQUENCY = 2
MIN_VOCAB_SIZE = 256 + len(SPECIAL_TOKENS)  # every byte, then the special tokens


def train_tokenizer(texts: Iterable[str], vocab_size: int = DEFAULT_VOCAB_SIZE,
                    min_frequency: int = MIN_FREQUENCY, progress: bool = False, fim: bool = False) -> BPETokenizer:
    """A byte-level BPE trained on `texts` (the vocabulary can come out smaller on a tiny corpus).

    `fim`: with the fill-in-the-middle sentinels (ids 5-7) after the special tokens.
    """
    from tokenizers import ByteLevelBPETokenizer

    specials = len(SPECIAL_TOKENS) + (len(FIM_TOKENS) if fim else 0)
    if vocab_size < 256 + specials:
        raise PyccError(f"the vocabulary must hold at least {256 + specials} tokens "
                        f"(256 bytes and {specials} special tokens), not {vocab_size}")
    if min_frequency < 1:
        raise PyccError("the minimum frequency must be at least 1")
    started = time.perf_counter()
    trainer = ByteLevelBPETokenizer(add_prefix_space=False, lowercase=False, trim_offsets=False)
    trainer.train_from_iterator(iter(texts), vocab_size=vocab_size, min_frequency=min_frequency,
                                show_progress=progress,
                                special_tokens=list(SPECIAL_TOKENS + (FIM_TOKENS if fim else ())))
    tokenizer = BPETokenizer(trainer._tokenizer, "trained tokenizer")  # the inner tokenizers.Tokenizer
    log.info("tokenizer: %d tokens (asked %d, min frequency %d) in %.1fs", tokenizer.vocab_size,
             vocab_size, min_frequency, time.perf_counter() - started)
    return tokenizer


def round_trip_failures(tokenizer: BPETokenizer, texts: Iterable[tuple[str, str]]) -> list[str]:
    """Names of the (name, text) pairs for which decode(encode(text)) != text."""
    failures = []
    for name, text in texts:
        if tokenizer.decode(tokenizer.encode(text)) != text:
            failures.append(name)
    return failures


def compression(tokenizer: BPETokenizer, texts: list[str]) -> dict:
    """Characters and tokens of `texts`, and characters per token."""
    chars = sum(len(t) for t in texts)
    tokens = sum(len(ids) for ids in tokenizer.encode_batch(texts)) if texts else 0
    return {"chars": chars, "tokens": tokens, "chars_per_token": round(chars / tokens, 4) if tokens else None}
