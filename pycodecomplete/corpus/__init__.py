"""The corpus, without TensorFlow: reading `.py` files, the stable split, preprocessing, BPE training.

* `sources`: reading files (the embedded sources are the standard library and
  the installed packages, `installed.py`; near copies are dropped, `dedupe.py`),
  filters counted by reason, the train/validation split by path hash,
  `corpus_for(config, roots)` and a model's `validation_files(artifact)`;
* `preprocess`: comment and docstring stripping, chunking at line starts;
* `tokenizer`: training the GPT-2 family's byte-level BPE.
"""
from pycodecomplete.corpus.installed import INSTALLED
from pycodecomplete.corpus.sources import (STDLIB, Corpus, SourceFile, corpus_for, load_corpus, read_sources,
                                           split_of, validation_files)

__all__ = ["INSTALLED", "STDLIB", "Corpus", "SourceFile", "corpus_for", "load_corpus", "read_sources", "split_of",
           "validation_files"]
