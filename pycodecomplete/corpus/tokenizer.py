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

import json
import logging
import time
from typing import Iterable

import numpy as np

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


def add_fim_tokens(tokenizer: BPETokenizer) -> tuple[BPETokenizer, np.ndarray]:
    """A left-to-right tokenizer given the fill-in-the-middle sentinels, at the same size.

    The sentinels take ids 5-7 (`pycodecomplete.bpe`), every later id moves up by
    three, and the three last merges (the rarest tokens the training found) make
    room, so a warm-started child keeps its parent's architecture. Their text is
    still encoded, by the merges below them. Returns the new tokenizer and, for each
    new id, the parent's id whose embedding row it takes (-1 for a sentinel).
    """
    if tokenizer.fim:
        raise PyccError(f"{tokenizer.source} already has the fill-in-the-middle tokens")
    spec = json.loads(tokenizer.to_str())
    vocab, merges = spec["model"]["vocab"], spec["model"]["merges"]
    size, n = tokenizer.vocab_size, len(FIM_TOKENS)
    by_id = {i: token for token, i in vocab.items()}
    last = [m if isinstance(m, list) else m.split(" ", 1) for m in merges[-n:]]
    if len(vocab) != size or [a + b for a, b in last] != [by_id.get(i) for i in range(size - n, size)]:
        raise PyccError(f"{tokenizer.source}: its last ids are not its last merges; cannot make room "
                        "for the fill-in-the-middle tokens")
    first = len(SPECIAL_TOKENS)
    source = np.concatenate([np.arange(first), np.full(n, -1), np.arange(first, size - n)]).astype(np.int64)
    new_vocab = {token: (i if i < first else i + n) for token, i in vocab.items() if i < size - n}
    new_vocab.update({token: first + k for k, token in enumerate(FIM_TOKENS)})
    spec["model"]["vocab"] = dict(sorted(new_vocab.items(), key=lambda item: item[1]))
    spec["model"]["merges"] = merges[:-n]
    template = next(t for t in spec["added_tokens"] if t["content"] == SPECIAL_TOKENS[-1])
    spec["added_tokens"] += [{**template, "id": first + k, "content": token} for k, token in enumerate(FIM_TOKENS)]
    grafted = BPETokenizer.from_str(json.dumps(spec, ensure_ascii=False), f"{tokenizer.source} + FIM tokens")
    if not grafted.fim or grafted.vocab_size != size:
        raise PyccError(f"{tokenizer.source}: adding the fill-in-the-middle tokens failed")
    return grafted, source
