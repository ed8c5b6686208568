"""Continue a prompt with any stepper: sampling (temperature, top-k, top-p, seed) or beam search.

Shared by both families: the char-LSTM's tokens are its 100 characters, the
GPT-2's are BPE tokens (several bytes each). The caller gives the stepper's state
and logits after the prompt, each token's bytes, the id that ends a file (which
stops generation), and which ids may ever be produced.

* **Sampling**: log-softmax, then the allowed set, the n-gram ban, temperature
  (0 = greedy), top-k, top-p (the smallest set with that much probability), and
  one draw from a `numpy` generator seeded with `seed`: the same seed gives the
  same text.
* **Beam search** (GPyT used 10 beams and no repeated 5-grams): keeps `beams`
  continuations, finishes one at the end-of-file id, and returns the best by
  log-probability per token (length penalty 1). Deterministic.
* ``pending`` bytes ("token healing", GPT only): the prompt's last token was taken
  back, so the first tokens must re-emit those bytes; only what follows is output.

Output is text pieces, exactly as decoded (UTF-8, incrementally), never more than
`chars` characters and `max_length` model steps.
"""
from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from pycodecomplete.engine.numeric import log_softmax
from pycodecomplete.errors import OptionError


@dataclass
class GenerationOptions:
    chars: int = 300  # most characters output
    max_length: int | None = None  # most model steps (tokens; characters for the LSTM); None: no limit
    temperature: float = 0.8  # 0: always the most likely token
    top_k: int = 0  # sample among the k most likely (0: all)
    top_p: float = 1.0  # ... among the smallest set holding this much probability (1: all)
    seed: int | None = None
    beams: int = 1  # more than 1: beam search instead of sampling
    no_repeat_ngram: int = 0  # never produce the same n tokens twice (0: allowed)

    def validate(self) -> "GenerationOptions":
        for name in ("chars", "max_length", "beams"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise OptionError(name, "must be at least 1")
        for name in ("temperature", "top_k", "no_repeat_ngram"):
            if getattr(self, name) < 0:
                raise OptionError(name, "cannot be negative")
        if not 0 < self.top_p <= 1:
            raise OptionError("top_p", "must be in (0, 1]")
        return self


def banned_by_ngrams(history: Sequence[int], n: int) -> list[int]:
    """Ids that would repeat an n-gram already in `history` (HF's no_repeat_ngram_size)."""
    if n < 1 or len(history) < n - 1:
        return []
    if n == 1:
        return list(set(history))
    tail = tuple(history[len(history) - n + 1:])
    return [history[i + n - 1] for i in range(len(history) - n + 1) if tuple(history[i:i + n - 1]) == tail]


def sample_id(logp: np.ndarray, allowed: np.ndarray, temperature: float, top_k: int, top_p: float,
              rng: np.random.Generator) -> int:
    """One id from log-probs `logp` restricted to `allowed` (-1 when nothing is allowed)."""
    scores = np.where(allowed, logp, -np.inf)
    if not np.isfinite(scores).any():
        return -1
    if temperature <= 0:
        return int(np.argmax(scores))
    scores = scores / temperature
    if top_k and top_k < np.isfinite(scores).sum():
        kth = np.partition(scores, -top_k)[-top_k]
        scores = np.where(scores >= kth, scores, -np.inf)
    probs = np.exp(scores - scores.max())
    probs /= probs.sum()
    if top_p < 1.0:
        order = np.argsort(-probs, kind="stable")
        keep = int(np.searchsorted(np.cumsum(probs[order]), top_p)) + 1  # smallest set with mass >= top_p
        mask = np.zeros(probs.shape, dtype=bool)
        mask[order[:keep]] = True
        probs = np.where(mask, probs, 0.0)
        probs /= probs.sum()
    return int(rng.choice(len(probs), p=probs))


def _strip_pending(piece: bytes, pending: bytes) -> tuple[bytes, bytes]:
    """(bytes to output, bytes still pending) after a token `piece`."""
    if not pending:
        return piece, b""
    if piece.startswith(pending):
        return piece[len(pending):], b""
    return b"", pending[len(piece):]


def _allowed(allowed: np.ndarray, stop_id: int, pending: bytes, heal_mask, history, n: int) -> np.ndarray:
    mask = (heal_mask(pending) if pending else allowed).copy()
    mask[stop_id] = not pending  # the model may end the file, once the healed bytes are back
    if n:
        mask[banned_by_ngrams(history, n)] = False
    return mask


def continue_text(stepper, state, logits, *, token_bytes: Sequence[bytes], stop_id: int, allowed: np.ndarray,
                  options: GenerationOptions, history: Sequence[int] = (), pending: bytes = b"",
                  heal_mask: Callable[[bytes], np.ndarray] | None = None, room: int | None = None,
                  slide: Callable[[list[int]], tuple[object, np.ndarray, int]] | None = None) -> Iterator[str]:
    """Text pieces continuing the prompt whose state and next logits are `state`, `logits`.

    `history`: the prompt's ids (for the n-gram ban). `room`: ids the state can
    still take (None: unlimited); when sampling fills it, `slide(ids so far)`
    gives a fresh (state, logits, room). Beam search stops there instead.
    """
    options.validate()
    if options.beams > 1:
        ids = beam_search(stepper, state, logits, token_bytes=token_bytes, stop_id=stop_id, allowed=allowed,
                          options=options, history=history, pending=pending, heal_mask=heal_mask, room=room)
        data = b"".join(_strip_pending_all(token_bytes, ids, pending))
        text = data.decode("utf-8", errors="replace")[:options.chars]
        if text:
            yield text
        return
    rng = np.random.default_rng(options.seed)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    history = list(history)
    emitted = steps = 0
    limit = options.max_length if options.max_length is not None else float("inf")
    left = room if room is not None else float("inf")
    logits = np.asarray(logits)
    while emitted < options.chars and steps < limit:
        mask = _allowed(allowed, stop_id, pending, heal_mask, history, options.no_repeat_ngram)
        choice = sample_id(log_softmax(logits), mask, options.temperature, options.top_k, options.top_p, rng)
        if choice < 0 or choice == stop_id:
            break
        piece, pending = _strip_pending(token_bytes[choice], pending)
        text = decoder.decode(piece)[:options.chars - emitted]
        if text:
            emitted += len(text)
            yield text
        history.append(choice)
        steps += 1
        if left < 1:  # the state is full: start again from the end of the text so far
            if slide is None:
                break
            state, logits, left = slide(history)
        else:
            step_logits, state = stepper.step(state, np.array([choice]))
            logits = step_logits[0]
            left -= 1
    tail = decoder.decode(b"", final=True)
    if tail and emitted < options.chars:
        yield tail[:options.chars - emitted]


def _strip_pending_all(token_bytes, ids, pending: bytes) -> list[bytes]:
    out = []
    for i in ids:
        piece, pending = _strip_pending(token_bytes[i], pending)
        out.append(piece)
    return out


def beam_search(stepper, state, logits, *, token_bytes: Sequence[bytes], stop_id: int, allowed: np.ndarray,
                options: GenerationOptions, history: Sequence[int] = (), pending: bytes = b"",
                heal_mask=None, room: int | None = None) -> list[int]:
    """The best continuation's ids (without the stop id) by log-probability per token."""
    beams, n = options.beams, options.no_repeat_ngram
    limit = min(x for x in (options.max_length, room, 10**9) if x is not None)
    history = list(history)
    live = [(0.0, [], pending)]  # (log-probability, ids, pending bytes)
    logps = log_softmax(np.asarray(logits))[None]
    done: list[tuple[float, list[int]]] = []
    for _ in range(limit):
        candidates = []
        for row, (score, ids, waiting) in enumerate(live):
            mask = _allowed(allowed, stop_id, waiting, heal_mask, history + ids, n)
            scores = np.where(mask, logps[row] + score, -np.inf)
            top = min(len(scores), 2 * beams)
            for t in np.argpartition(-scores, top - 1)[:top]:
                if scores[t] > -np.inf:
                    candidates.append((float(scores[t]), row, int(t)))
        candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
        next_live, rows = [], []
        for score, row, tok in candidates:
            if len(next_live) >= beams:
                break
            _, ids, waiting = live[row]
            if tok == stop_id:
                done.append((score / (len(ids) + 1), ids))
                continue
            next_live.append((score, ids + [tok], _strip_pending(token_bytes[tok], waiting)[1]))
            rows.append(row)
        if not next_live:
            live = []
            break
        live = next_live
        step_logits, state = stepper.step(stepper.select(state, rows), np.array([ids[-1] for _, ids, _ in live]))
        logps = log_softmax(step_logits)
        # Stop once a finished beam beats every live one per token (HF's early-stopping heuristic).
        if len(done) >= beams and max(s for s, _ in done) >= max(s / len(ids) for s, ids, _ in live):
            break
    done.extend((score / max(1, len(ids)), ids) for score, ids, _ in live)
    return max(done, key=lambda item: item[0])[1] if done else []
