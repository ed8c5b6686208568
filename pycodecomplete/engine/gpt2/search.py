"""GPT-2's completion search: BPE tokens, scanned character by character against the text rules.

The search runs over tokens, but the boundary rules of `engine.text` are
character rules, so every token's text is scanned character by character and the
suggestion is cut where its rule says (a word before the first non-word
character, a line before the newline, a string after its closing quote, never
more than `max_chars`). The probability that a suggestion ends at a boundary sums
over every token that starts with a boundary character.

**Token healing.** The cursor can sit inside a token (``"import nu"`` is
``import`` + `` nu``, while ``import numpy`` is ``import`` + `` numpy``), so the
engine takes the last tokens back and the search must first re-emit their bytes
(`heal_mask`: the tokens that start with what is pending, or are a prefix of it,
found by bisection in the byte-sorted vocabulary); only what follows is
suggested. A suggestion's score is then P(healed bytes + suggestion), divided by
the exact P(healed bytes) summed over all their tokenizations (`_healed_logmass`).

Like the char-LSTM's search, it reuses the tree of nodes (token path -> (log-probs,
state)) that the document's last request computed; steps are the same with or
without it. With a time budget (`engine.budget.Deadline`) it stops before a step
once the budget is spent, and answers as at the lookahead.
"""
from __future__ import annotations

import bisect
import math
import threading
from dataclasses import dataclass

import numpy as np

from pycodecomplete.engine.numeric import expand, logsumexp
from pycodecomplete.engine.text import NEVER, Suggestion, cut_back, escaped


def _valid_prefix(data: bytes) -> str | None:
    """The text of `data` without an incomplete character at its end; None if invalid UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and len(data) - exc.start < 4:
            try:
                return data[:exc.start].decode("utf-8")
            except UnicodeDecodeError:
                return None
        return None


@dataclass
class _Beam:
    score: float
    out: bytes  # suggestion bytes so far (may end inside a character)
    text: str  # the complete characters of `out`, none of which ended the suggestion
    pending: bytes  # healed bytes still to re-emit before anything counts
    last: int  # last token id (-1 at the root)
    key: tuple  # the token ids generated so far: the beam's node in the search tree
    marks: tuple  # (text length, score) after each token, for cutting back


class TokenSearch:
    """The token tables of one vocabulary and the completion search over them. Thread-safe."""

    def __init__(self, stepper, token_bytes: list[bytes]):
        self.stepper = stepper
        self.token_bytes = token_bytes
        first = np.array([b[0] if b else 256 for b in token_bytes])
        self.first_char = np.array([chr(c) if c < 128 else "" for c in first], dtype=object)
        self.special = np.array([not b for b in token_bytes])
        self.max_token_bytes = max(1, max(len(b) for b in token_bytes))
        order = sorted((b, i) for i, b in enumerate(token_bytes) if b)
        self._sorted_bytes = [b for b, _ in order]
        self._sorted_ids = np.array([i for _, i in order], dtype=np.intp)
        self._id_of_bytes = {b: i for b, i in order}
        self._heal_masks: dict[bytes, np.ndarray] = {}
        self._heal_lock = threading.Lock()
        self._rule_cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def _rule_masks(self, rule) -> tuple[np.ndarray, np.ndarray]:
        """(tokens starting with a character the suggestion ends before, ... ends after), read-only.

        A handful of rules recur on every keystroke: computing them over the vocabulary
        in Python cost about 1 ms a search, so they are kept."""
        key = (rule.ends_before, rule.ends_after)
        masks = self._rule_cache.get(key)
        if masks is None:
            masks = tuple(np.array([c != "" and c in chars for c in self.first_char])
                          for chars in (rule.ends_before, rule.ends_after))
            for mask in masks:
                mask.flags.writeable = False
            if len(self._rule_cache) > 256:
                self._rule_cache.clear()
            self._rule_cache[key] = masks
        return masks

    def heal_mask(self, pending: bytes) -> np.ndarray:
        """Tokens that re-emit `pending`: they start with it, or are a non-empty prefix of it."""
        with self._heal_lock:
            mask = self._heal_masks.get(pending)
            if mask is None:
                mask = np.zeros(len(self.token_bytes), dtype=bool)
                mask[self._starting_with(pending)] = True
                # ...and the tokens it starts with are among its prefixes.
                for end in range(1, len(pending)):
                    tok = self._id_of_bytes.get(pending[:end])
                    if tok is not None:
                        mask[tok] = True
                if len(self._heal_masks) > 1024:  # 4 kB each (a 4,000-token vocabulary): kept under 5 MB
                    self._heal_masks.clear()
                self._heal_masks[pending] = mask
            return mask

    def search(self, nodes: dict, healed: bytes, rule, *, n: int, width: int, max_chars: int,
                steps: int, min_chars: int = 1, deadline=None, end_ids=()) -> tuple[list[Suggestion], dict]:
        """Ranked suggestions, and the tree of nodes visited (`nodes` plus those computed).

        `end_ids`: tokens that end a suggestion wherever they come (the end of a
        fill-in-the-middle's middle), besides the rule's boundary characters.
        """
        visited = {(): nodes[()]}
        finished: dict[str, float] = {}
        # As the LSTM engine: a suggestion too short to save a keystroke is never offered.
        min_chars = max(1, min(min_chars, max_chars))

        def finish(text: str, score: float) -> None:
            if len(text) >= min_chars and score > -math.inf:
                finished[text] = float(np.logaddexp(finished.get(text, -math.inf), score))

        def threshold() -> float:
            if len(finished) < n:
                return -math.inf
            return sorted(finished.values(), reverse=True)[n - 1]

        starts_before, starts_after = self._rule_masks(rule)
        ending = starts_before.copy()
        ending[list(end_ids)] = True
        open_allowed = ~(self.special | starts_before | starts_after)
        live = [_Beam(0.0, b"", "", healed, -1, (), ((0, 0.0),))]
        for depth in range(steps + 1):
            candidates = []
            for beam in live:
                logp = visited[beam.key][0] + beam.score
                if beam.pending:
                    allowed = self.heal_mask(beam.pending)
                else:
                    # Ending here: any token whose text starts with a boundary character.
                    whole = len(beam.out) == len(beam.text.encode("utf-8"))  # no partial character
                    if whole and beam.text:
                        finish(beam.text, logsumexp(logp[ending]))
                    if whole and rule.ends_after and not escaped(beam.text, rule):
                        for tok in np.flatnonzero(starts_after):
                            finish(beam.text + self.first_char[tok], float(logp[tok]))
                    allowed = open_allowed
                scores = np.where(allowed, logp, -np.inf)
                top = min(len(scores), 2 * width + n)
                best = np.argpartition(-scores, top - 1)[:top]
                candidates.extend((float(scores[t]), beam, int(t)) for t in best if scores[t] > -np.inf)
            if depth == steps:
                break
            candidates.sort(key=lambda c: (-c[0], c[2]))
            next_live = []
            for score, beam, tok in candidates:
                if len(next_live) >= width or score <= threshold():
                    break
                grown = self._extend(beam, tok, score, rule, max_chars, finish)
                if grown is not None:
                    next_live.append(grown)
            if not next_live:
                live = []
                break
            bar = threshold()
            live = [b for b in next_live if b.score > bar]
            if not live:
                break
            if deadline is not None and deadline.expired():
                deadline.stop("search")
                break
            expand(self.stepper, visited, nodes, [(b.key, b.last) for b in live])
        if rule.kind != "word":
            for beam in live:  # still open after the lookahead: cut back to a space or word end
                cut = cut_back(beam.text)
                if cut:
                    finish(beam.text[:cut], next(s for length, s in beam.marks if length >= cut))
        ranked = sorted(finished.items(), key=lambda item: (-item[1], item[0]))[:n]
        # Scores so far are P(healed bytes + suggestion); the API's score is P(suggestion | text).
        logz = self._healed_logmass(visited, nodes, healed) if healed and ranked else 0.0
        return [Suggestion(text, min(1.0, math.exp(score - logz))) for text, score in ranked], visited

    def _healed_logmass(self, visited: dict, nodes: dict, pending: bytes) -> float:
        """log P(the next bytes are `pending`), summed over every tokenization of them.

        Token by token: the tokens that start with what is left of `pending` end the
        sum; those that are a proper prefix of it continue it, one batched model step
        per level (nodes the search already computed are reused). Paths below
        e^-20 of the total are dropped.
        """
        total = -math.inf
        frontier = [((), pending, 0.0)]
        while frontier:
            expand(self.stepper, visited, nodes, [(key, key[-1] if key else -1) for key, _, _ in frontier])
            grown = []
            for key, rest, acc in frontier:
                logp = visited[key][0]
                total = float(np.logaddexp(total, acc + logsumexp(logp[self._starting_with(rest)])))
                for end in range(1, len(rest)):
                    tok = self._id_of_bytes.get(rest[:end])
                    if tok is not None:
                        grown.append((key + (tok,), rest[end:], acc + float(logp[tok])))
            frontier = [f for f in grown if f[2] > total - 20.0]
        return total

    def _starting_with(self, prefix: bytes) -> np.ndarray:
        """Ids of the tokens whose bytes start with `prefix` (a run of the byte-sorted vocabulary)."""
        low = bisect.bisect_left(self._sorted_bytes, prefix)
        # They end before the first bytes above every extension of `prefix`: its last byte
        # below 0xff, plus one. A scan of the run took 273 us for " " (1,406 tokens) and up to
        # 1 ms a keystroke; two bisections take 1.4 us.
        stem = prefix.rstrip(b"\xff")
        if not stem:
            return self._sorted_ids[low:]
        high = bisect.bisect_left(self._sorted_bytes, stem[:-1] + bytes([stem[-1] + 1]), low)
        return self._sorted_ids[low:high]

    def _extend(self, beam: _Beam, tok: int, score: float, rule, max_chars: int, finish) -> _Beam | None:
        """`beam` + token `tok`: a live beam, or None when it finished (via `finish`) or died."""
        piece, pending = self.token_bytes[tok], beam.pending
        if pending:
            if piece.startswith(pending):
                piece, pending = piece[len(pending):], b""
            else:
                piece, pending = b"", pending[len(piece):]
        out = beam.out + piece
        text = _valid_prefix(out)
        if text is None:
            return None  # not UTF-8: nothing to show
        for i in range(len(beam.text), len(text)):
            c = text[i]
            # Byte-level tokens can spell any character: in a word, a non-ASCII one must be
            # an identifier character (the char-LSTM's ASCII rule covers the rest).
            if c in rule.ends_before or (rule.kind == "word" and c > "\x7f" and not ("a" + c).isidentifier()):
                finish(text[:i], score)
                return None
            if c in NEVER:
                return None
            if c in rule.ends_after and not escaped(text[:i], rule):
                finish(text[:i + 1], score)
                return None
            if i + 1 >= max_chars:
                finish(text[:i + 1], score)
                return None
        return _Beam(score, out, text, pending, tok, beam.key + (tok,), beam.marks + ((len(text), score),))
