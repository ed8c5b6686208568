"""The installed-packages corpus: licenses from metadata, the exclusion list, near-duplicates."""
from __future__ import annotations

import importlib.metadata as metadata
import textwrap

import pytest

from pycodecomplete.config import Config
from pycodecomplete.corpus import load_corpus
from pycodecomplete.corpus.dedupe import near_duplicates
from pycodecomplete.corpus.installed import installed_sources, license_of

MODULE = textwrap.dedent('''\
    """A module of {name}."""


    def {name}_function(argument, other=None):
        values = [argument * index for index in range(10)]
        return sum(values) + (other or 0)
''')


def fake_distribution(site, name, *, expression=None, license=None, classifiers=(), files=None):
    """A *.dist-info with METADATA and RECORD, and its package's modules."""
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.4", f"Name: {name}", "Version: 1.0"]
    if expression:
        lines.append(f"License-Expression: {expression}")
    if license:
        lines.append(f"License: {license}")
    lines += [f"Classifier: {c}" for c in classifiers]
    (info / "METADATA").write_text("\n".join(lines) + "\n")
    files = files or {f"{name}/__init__.py": MODULE.format(name=name), f"{name}/tests/test_x.py": "assert True\n"}
    for rel, text in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    (info / "RECORD").write_text("".join(f"{rel},,\n" for rel in files) + f"{info.name}/METADATA,,\n")


@pytest.fixture
def site(tmp_path):
    site = tmp_path / "site-packages"
    fake_distribution(site, "mitexpr", expression="MIT")
    fake_distribution(site, "dual", expression="Apache-2.0 OR GPL-2.0-only")
    fake_distribution(site, "mixed", expression="MPL-2.0 AND MIT")
    fake_distribution(site, "bsdclassifier", classifiers=["License :: OSI Approved :: BSD License"])
    fake_distribution(site, "gplclassifier", classifiers=["License :: OSI Approved :: GNU General Public License v3 (GPLv3)"])
    fake_distribution(site, "psftext", license="PSF")
    fake_distribution(site, "lgpltext", license="GNU Lesser General Public License v2.1")
    fake_distribution(site, "nothing")
    fake_distribution(site, "heldout", expression="MIT")
    return site


def test_licenses_come_from_metadata_and_only_permissive_ones_are_read(site):
    found, selection = installed_sources({"held_out", "HeldOut"}, metadata.distributions(path=[str(site)]))
    read = sorted(d.split("==")[0] for d in selection.distributions)
    assert read == ["bsdclassifier", "dual", "mitexpr", "psftext"]
    assert selection.excluded == ["heldout"]  # names compare normalised (PEP 503)
    assert sum(selection.left_out_by_license.values()) == 4
    assert selection.left_out_by_license["unknown"] == 1
    assert selection.left_out_by_license["MPL-2.0 AND MIT"] == 1
    # Test directories are skipped, as in the standard library.
    assert sorted(path.relative_to(site).as_posix() for _, path in found) == [
        "bsdclassifier/__init__.py", "dual/__init__.py", "mitexpr/__init__.py", "psftext/__init__.py"]


def test_license_fields_take_precedence_in_order():
    class Meta(dict):  # the real metadata objects are email.Message-like: get() and get_all()
        def get_all(self, key):
            value = self.get(key)
            return value if isinstance(value, list) else None

    assert license_of(Meta({"License-Expression": "BSD-3-Clause", "License": "GPL"})) == ("BSD-3-Clause", True)
    assert license_of(Meta({"Classifier": ["License :: OSI Approved :: MIT License",
                                           "License :: OSI Approved :: GNU General Public License (GPL)"]}))[1] is False
    assert license_of(Meta({"License": "Apache License, Version 2.0"}))[1] is True
    assert license_of(Meta({})) == ("unknown", False)


def test_the_installed_corpus_never_reads_the_exclusion_list(site, monkeypatch):
    import pycodecomplete.corpus.sources as sources

    monkeypatch.setattr(sources, "installed_sources",
                        lambda exclude: installed_sources(exclude, metadata.distributions(path=[str(site)])))
    corpus = load_corpus(["installed"], exclude_distributions=("mitexpr", "heldout"))
    assert {f.path.split("/")[0] for f in corpus.files} == {"bsdclassifier", "dual", "psftext"}
    assert corpus.stats()["installed"]["excluded"] == ["heldout", "mitexpr"]
    assert corpus.roots == ["installed"]


def test_the_default_exclusions_hold_the_model_cards_held_out_packages():
    assert {"six", "attrs"} <= set(Config().excluded_distributions())


def test_near_duplicates_keep_one_of_two_near_copies_and_both_of_two_different_files():
    original = "\n".join(f"def function_{i}(value):\n    return value * {i} + offset_{i}" for i in range(60))
    patched = original.replace("return value * 7 + offset_7", "return value * 7 + offset_seven")
    different = "\n".join(f"class Thing{i}:\n    attribute_{i} = compute({i}, 'x')" for i in range(60))
    assert near_duplicates([original, patched, different], threshold=0.85) == [1]
    assert near_duplicates([original, different], threshold=0.85) == []
    assert near_duplicates([original, patched], threshold=0.0) == []  # 0 turns it off


def test_the_corpus_counts_near_duplicates_as_a_skip_reason(tmp_path):
    body = "\n".join(f"def function_{i}(value):\n    return value * {i} + offset_{i}" for i in range(60))
    (tmp_path / "a.py").write_text(body + "\n")
    (tmp_path / "vendored_copy.py").write_text(body.replace("value * 3 + offset_3\n", "value * 3 + offset_three\n") + "\n")
    (tmp_path / "other.py").write_text("import os\nprint(os.getcwd())\n")
    corpus = load_corpus([tmp_path], near_duplicates=0.85)
    assert sorted(f.path for f in corpus.files) == ["a.py", "other.py"]
    assert corpus.stats()["skipped"]["near-duplicate"] == 1
    assert len(load_corpus([tmp_path], near_duplicates=0.0).files) == 3
