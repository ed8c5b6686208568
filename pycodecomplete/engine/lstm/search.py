"""The char-LSTM's beam search to natural boundaries (the rules: `engine.text`).

`width` hypotheses stay alive per step (at least `n`). Every live hypothesis also
proposes itself as finished (with the probability of its ending); the search stops
when no live hypothesis can still beat the n-th best finished one, since scores only
fall as text grows. Each live beam's next-character log-probabilities come from
`nodes`, a tree of already computed (log-probs, state) keyed by the suggestion text
so far; missing nodes are computed in one batched `stepper.step` per depth. The
engine keeps that tree between keystrokes, so typing or accepting a predicted
character costs no model steps. The tree only saves work: steps are counted the
same with or without it, so results do not depend on what was cached.

The search makes at most `lookahead` batched model steps (one per character), so
suggestions explore at most that many characters past the first. With a time
budget (`engine.budget.Deadline`), it also stops before a step once the budget is
spent, and answers as at the lookahead: the suggestions finished so far, plus the
open ones cut back to a word end.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from pycodecomplete.engine.numeric import expand
from pycodecomplete.engine.text import NEVER, BoundaryRule, Suggestion, cut_back, escaped


@functools.lru_cache(maxsize=64)
def _masks(rule: BoundaryRule, chars: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids that end before, ids that end after, additive penalty: 0 to grow, -inf not) for `rule`."""
    ends_before = np.flatnonzero([c in rule.ends_before for c in chars])
    ends_after = np.flatnonzero([c in rule.ends_after for c in chars])
    penalty = np.zeros(len(chars), np.float32)
    penalty[ends_before] = -np.inf
    penalty[[i for i, c in enumerate(chars) if c in NEVER]] = -np.inf
    for array in (ends_before, ends_after, penalty):
        array.flags.writeable = False
    return ends_before, ends_after, penalty


@dataclass
class _Beam:
    text: str
    last: int  # id of the last character (-1 for the root)
    scores: tuple  # cumulative log-probability after each character


def beam_search(stepper, nodes: dict, rule: BoundaryRule, chars: str, *,
                n: int, width: int, max_chars: int, lookahead: int,
                min_chars: int = 1, deadline=None) -> tuple[list[Suggestion], dict]:
    """Return up to `n` ranked suggestions and the tree of nodes the search visited.

    Suggestions shorter than `min_chars` are never offered (accepting one costs at
    least the keystrokes it saves); they do not take a place in the top `n`.

    `nodes` maps suggestion text -> (log-probs over the vocabulary, stepper state);
    it must hold the root ``""``. Missing nodes are computed, at most `lookahead`
    batched steps (depths) in all.
    """
    vocab = len(chars)
    width = max(width, n)
    ends_before, closers, penalty = _masks(rule, chars)
    visited = {"": nodes[""]}
    finished: dict[str, float] = {}

    def finish(text: str, score: float) -> None:
        if len(text) >= min_chars and score > finished.get(text, -math.inf):
            finished[text] = score

    def threshold() -> float:
        """Score a hypothesis must beat to reach the top n (scores only fall as text grows)."""
        if len(finished) < n:
            return -math.inf
        return sorted(finished.values(), reverse=True)[n - 1]

    live = [_Beam("", -1, (0.0,))]
    steps = 0
    while True:
        scores = np.array([b.scores[-1] for b in live])
        logps = np.stack([visited[b.text][0] for b in live])
        if live[0].text:  # every live beam has the same length: all may end here
            ending = logps[:, ends_before].astype(np.float64)
            top = ending.max(axis=1)
            ended = top + np.log(np.exp(ending - top[:, None]).sum(axis=1)) + scores
            for beam, score in zip(live, ended.tolist()):
                finish(beam.text, score)
        table = (logps + penalty) + scores[:, None]
        if closers.size:
            for row, beam in enumerate(live):
                if not escaped(beam.text, rule):
                    for col in closers:
                        finish(beam.text + chars[col], float(table[row, col]))
                    table[row, closers] = -math.inf
        flat = table.ravel()
        count = min(width, flat.size)
        candidates = np.argpartition(-flat, count - 1)[:count]
        order = candidates[np.lexsort((candidates, -flat[candidates]))]
        bar = threshold()
        next_live = []
        for index in order:
            score = float(flat[index])
            if score == -math.inf or score <= bar:
                break
            row, col = divmod(int(index), vocab)
            beam = live[row]
            text = beam.text + chars[col]
            if len(text) >= max_chars:
                finish(text, score)
            else:
                next_live.append(_Beam(text, col, beam.scores + (score,)))
        bar = threshold()
        live = [b for b in next_live if b.scores[-1] > bar]
        if not live or steps >= lookahead:
            break
        if deadline is not None and deadline.expired():
            deadline.stop("search")
            break
        expand(stepper, visited, nodes, [(b.text, b.last) for b in live])
        steps += 1  # counted with or without the cache, so results never depend on it
    if rule.kind != "word":
        for beam in live:  # still open after `lookahead` steps: cut back to a space or word end
            cut = cut_back(beam.text)
            if cut:
                finish(beam.text[:cut], beam.scores[cut])
    ranked = sorted(finished.items(), key=lambda item: (-item[1], item[0]))[:n]
    return [Suggestion(text, math.exp(score)) for text, score in ranked], visited
