"""Token and text commands: `pycc tokenizer train|encode`, `pycc preprocess`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pycodecomplete.cli.common import add_corpus_flags, corpus_from_args
from pycodecomplete.config import Config
from pycodecomplete.errors import PyccError


def register(sub) -> None:
    p = sub.add_parser("tokenizer", help="train or try the byte-level BPE tokenizer of the GPT-2 family",
                       description="The GPT-2 family's byte-level BPE tokenizer (special tokens <s> <pad> </s> "
                                   "<unk> <mask> with ids 0-4). `pycc train --arch gpt2` trains its own on the "
                                   "training split and saves it in the model directory; these commands are for "
                                   "choosing a vocabulary size and for looking at tokens.")
    actions = p.add_subparsers(dest="tokenizer_command", metavar="ACTION")
    p.set_defaults(func=lambda args, parser=p: _missing_action(parser))

    t = actions.add_parser("train", help="train a tokenizer on a corpus and report its compression",
                           description="Train on the training split of a corpus (default: the stdlib), check "
                                       "that every file of the corpus decodes back exactly, and report "
                                       "characters per token on both splits.")
    add_corpus_flags(t)
    t.add_argument("--out", type=Path, metavar="PATH",
                   help="write the tokenizer here (a .json file, or a directory to hold tokenizer.json)")
    t.add_argument("--vocab-size", type=int, default=Config.gpt_vocab_size, metavar="N",
                   help="vocabulary size, special tokens and the 256 bytes included (default %(default)s; "
                        "see pycodecomplete/corpus/tokenizer.py for why)")
    t.add_argument("--min-frequency", type=int, default=2, metavar="N",
                   help="a merge must occur at least N times (default %(default)s, as GPyT)")
    t.add_argument("--strip-comments", action="store_true", help="train on the code without its comments")
    t.set_defaults(func=cmd_tokenizer_train)

    e = actions.add_parser("encode", help="show how a text splits into tokens",
                           description="Encode TEXT and print each token's id and text (GPyT's tokenizer -e).")
    e.add_argument("text", metavar="TEXT", help="the text, or - to read it from stdin")
    e.add_argument("--tokenizer", required=True, type=Path, metavar="PATH",
                   help="a tokenizer .json file or a GPT-2 model directory")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=cmd_tokenizer_encode)

    f = actions.add_parser("add-fim", help="copy a left-to-right GPT-2 model with the fill-in-the-middle tokens",
                           description="Write a copy of a GPT-2 model directory whose tokenizer has the "
                                       "fill-in-the-middle sentinels (ids 5-7; the three rarest merges make "
                                       "room, so the architecture is unchanged) and whose embeddings follow "
                                       "their tokens. Then `pycc train --init-from OUT` teaches it the FIM "
                                       "layout (fim_rate) while it keeps learning left to right.")
    f.add_argument("--model", required=True, type=Path, metavar="DIR", help="a GPT-2 model directory without FIM")
    f.add_argument("--out", required=True, type=Path, metavar="DIR", help="the new model directory")
    f.set_defaults(func=cmd_tokenizer_add_fim)

    p = sub.add_parser("preprocess", help="write a cleaned copy of a corpus (comments stripped)",
                       description="Read a corpus like training does (default: the stdlib) and write each file "
                                   "to --out at the same relative path (so the train/validation split stays "
                                   "the same), with its comments removed (tokenize-based: a '#' in a string "
                                   "is never touched, lines are never joined, the code's AST is unchanged) "
                                   "and, with --strip-docstrings, its docstrings. Then train on it with "
                                   "`pycc train --corpus OUT`. Long files need no splitting here: training "
                                   "and evaluation cut them at line starts to fit the model's context.")
    add_corpus_flags(p)
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="where to write the cleaned files")
    p.add_argument("--strip-comments", action=argparse.BooleanOptionalAction, default=True,
                   help="remove comments (default: on)")
    p.add_argument("--strip-docstrings", action="store_true", help="remove docstrings too")
    p.set_defaults(func=cmd_preprocess)


def _missing_action(parser) -> int:
    parser.print_help()
    return 2


def cmd_tokenizer_train(args) -> int:
    from pycodecomplete.artifact import write_bytes_atomic
    from pycodecomplete.bpe import SPECIAL_TOKENS
    from pycodecomplete.corpus.preprocess import strip_comments
    from pycodecomplete.corpus.tokenizer import compression, round_trip_failures, train_tokenizer

    corpus = corpus_from_args(args)
    clean = strip_comments if args.strip_comments else (lambda text: text)
    texts = {name: [clean(f.text) for f in corpus.split(name)] for name in ("train", "val")}
    tokenizer = train_tokenizer(texts["train"], args.vocab_size, args.min_frequency, progress=not args.json)
    failures = round_trip_failures(tokenizer, [(f.path, f.text) for f in corpus.files])
    result = {"vocab_size": tokenizer.vocab_size, "asked_vocab_size": args.vocab_size,
              "min_frequency": args.min_frequency, "strip_comments": args.strip_comments,
              "special_tokens": {token: i for i, token in enumerate(SPECIAL_TOKENS)},
              "train": compression(tokenizer, texts["train"]), "val": compression(tokenizer, texts["val"]),
              "round_trip": {"files": len(corpus.files), "failed": failures[:20]}}
    if args.out is not None:
        out = Path(args.out)
        target = out / "tokenizer.json" if out.is_dir() or not out.suffix else out
        write_bytes_atomic(target, tokenizer.to_str().encode())
        result["out"] = str(target)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(f"vocabulary:   {tokenizer.vocab_size:,} tokens (asked {args.vocab_size:,}, min frequency "
              f"{args.min_frequency})")
        for name in ("train", "val"):
            c = result[name]
            print(f"{name:>5} split:  {c['chars']:,} chars -> {c['tokens']:,} tokens "
                  f"({c['chars_per_token']} chars/token)")
        print(f"round trip:   {len(corpus.files) - len(failures):,}/{len(corpus.files):,} files decode back exactly")
        if "out" in result:
            print(f"written to:   {result['out']}")
    if failures:
        raise PyccError(f"{len(failures)} file(s) do not round-trip, e.g. {failures[0]}")
    return 0


def cmd_tokenizer_encode(args) -> int:
    from pycodecomplete.artifact import ModelArtifact
    from pycodecomplete.bpe import BPETokenizer

    path = Path(args.tokenizer)
    tokenizer = BPETokenizer.from_artifact(ModelArtifact.load(path)) if path.is_dir() else BPETokenizer.from_file(path)
    text = sys.stdin.read() if args.text == "-" else args.text
    ids = tokenizer.encode(text).tolist()
    table = tokenizer.token_bytes()
    pieces = [table[i].decode("utf-8", errors="backslashreplace") for i in ids]
    if args.json:
        print(json.dumps({"ids": ids, "tokens": pieces, "chars": len(text), "count": len(ids)}))
        return 0
    for i, piece in zip(ids, pieces):
        print(f"{i:>7}  {json.dumps(piece, ensure_ascii=False)}")
    print(f"{len(text)} characters, {len(ids)} tokens", file=sys.stderr)
    return 0


def cmd_tokenizer_add_fim(args) -> int:
    from pycodecomplete.corpus.fim_graft import add_fim

    done = add_fim(args.model, args.out)
    print(f"wrote {done['to']}: {done['vocab_size']} tokens, FIM sentinels at ids "
          f"{', '.join(map(str, done['sentinel_ids']))}")
    return 0


def cmd_preprocess(args) -> int:
    from pycodecomplete.artifact import write_bytes_atomic
    from pycodecomplete.corpus.preprocess import parses, strip_comments, strip_docstrings

    corpus = corpus_from_args(args)
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise PyccError(f"{out} is not empty; choose a new --out")
    chars_in = chars_out = unparsed = 0
    for f in corpus.files:
        text = f.text
        if not parses(text):
            unparsed += 1  # comments still go (tokenize permitting); docstrings need the AST
        if args.strip_comments:
            text = strip_comments(text, docstrings=not args.strip_docstrings)
        elif args.strip_docstrings:
            text = strip_docstrings(text)
        chars_in += len(f.text)
        chars_out += len(text)
        write_bytes_atomic(out / f.path, text.encode("utf-8"))
    result = {"files": len(corpus.files), "chars_in": chars_in, "chars_out": chars_out,
              "removed_share": round(1 - chars_out / chars_in, 4) if chars_in else 0.0,
              "not_parsing": unparsed, "out": str(out)}
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(f"{result['files']:,} files written to {out}: {chars_in:,} -> {chars_out:,} characters "
              f"({100 * result['removed_share']:.1f}% removed)")
    return 0
