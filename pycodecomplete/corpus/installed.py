"""The second embedded corpus: the Python packages installed in the running environment.

Offline like the standard library, and real code of another kind: applications,
frameworks and libraries written outside CPython. Only permissively licensed
distributions are read. A distribution's license comes from its metadata
(`importlib.metadata`), in this order:

1. ``License-Expression`` (PEP 639, SPDX): with ``OR``, one permissive branch is
   enough; otherwise every license named must be permissive (``MPL-2.0 AND MIT``
   is left out);
2. ``License ::`` classifiers: permissive if any is, and none is copyleft;
3. the free-text ``License`` field, matched against the same names;

and a distribution none of these describes is left out as ``unknown``. Left-out
distributions are counted by license. Distributions named in the config's
`exclude_distributions` are never read, whatever their license: that is where
held-out packages go, since an installed package can slip into a corpus (six and
attrs, the held-out code of the model card, are installed here as dependencies).
Test directories are skipped, as in the standard library.
"""
from __future__ import annotations

import importlib.metadata as metadata
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

INSTALLED = "installed"  # the corpus root name of this source
# SPDX ids (and the spellings metadata uses for them) that allow training on the code.
PERMISSIVE = {
    "mit", "mit-0", "mit-cmu", "bsd", "0bsd", "bsd-2-clause", "bsd-3-clause", "bsd 3-clause", "3-clause bsd license",
    "apache-2.0", "apache 2.0", "apache license 2.0", "apache license, version 2.0", "apache software license",
    "apache license", "psf-2.0", "psf", "python-2.0", "cnri-python", "python software foundation license",
    "isc", "isc license (iscl)", "zlib", "zlib/libpng license", "unlicense", "the unlicense (unlicense)",
    "cc0-1.0", "hpnd", "bsl-1.0", "boost software license 1.0 (bsl-1.0)", "mit license", "bsd license",
    "historical permission notice and disclaimer (hpnd)", "dfsg approved",
}
COPYLEFT = re.compile(r"\b(a?gpl|lgpl|mpl|eupl|epl|cddl|osl|gnu|mozilla)\b", re.I)
_SPDX_SPLIT = re.compile(r"\s+(AND|OR|WITH)\s+|[()]")
_TEST_DIRS = {"test", "tests", "testing", "__pycache__"}


def normalize_name(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def license_of(meta) -> tuple[str, bool]:
    """(a short label of the distribution's license, whether it is permissive)."""
    expression = (meta.get("License-Expression") or "").strip()
    if expression:
        return expression, _expression_permissive(expression)
    classifiers = [c.split("::")[-1].strip() for c in (meta.get_all("Classifier") or []) if c.startswith("License ::")]
    classifiers = [c for c in classifiers if c.lower() != "osi approved"]
    if classifiers:
        permissive = any(c.lower() in PERMISSIVE for c in classifiers)
        copyleft = any(COPYLEFT.search(c) for c in classifiers)
        return " + ".join(classifiers), permissive and not copyleft
    text = " ".join((meta.get("License") or "").split())
    if text:
        short = text if len(text) <= 40 else text[:37] + "..."
        if len(text) <= 60 and ((" AND " in text) or (" OR " in text)):
            return short, _expression_permissive(text)
        if COPYLEFT.search(text):
            return short, False
        return short, text.lower() in PERMISSIVE or any(
            re.search(rf"\b{word}\b", text, re.I) for word in ("MIT", "BSD", "Apache", "ISC", "PSF"))
    return "unknown", False


def _expression_permissive(expression: str) -> bool:
    ids = [part.strip().lower() for part in _SPDX_SPLIT.split(expression)
           if part and part.strip() and part.strip() not in ("AND", "OR", "WITH")]
    if not ids:
        return False
    if " OR " in expression:
        return any(i in PERMISSIVE for i in ids)
    return all(i in PERMISSIVE for i in ids)


@dataclass
class InstalledSelection:
    """What `installed_sources` read and what it left out."""

    distributions: list[str] = field(default_factory=list)  # "name==version" read
    excluded: list[str] = field(default_factory=list)  # named in the exclusion list
    left_out_by_license: Counter = field(default_factory=Counter)  # license label -> distributions

    def to_json(self) -> dict:
        return {"distributions": len(self.distributions), "excluded": sorted(self.excluded),
                "left_out_by_license": dict(sorted(self.left_out_by_license.items()))}


def installed_sources(exclude: set[str], distributions=None) -> tuple[list[tuple[Path, Path]], InstalledSelection]:
    """(base directory, .py path) of every file of the permissive, not excluded distributions.

    `distributions` defaults to those of the running environment (tests pass their own).
    """
    exclude = {normalize_name(n) for n in exclude}
    selection, found, seen = InstalledSelection(), [], set()
    dists = list(metadata.distributions() if distributions is None else distributions)
    for dist in sorted(dists, key=lambda d: normalize_name(d.metadata["Name"] or "")):
        name = normalize_name(dist.metadata["Name"] or "")
        if not name or name in seen:
            continue  # the same distribution found twice on sys.path: read it once
        seen.add(name)
        if name in exclude:
            selection.excluded.append(name)
            continue
        label, permissive = license_of(dist.metadata)
        if not permissive:
            selection.left_out_by_license[label] += 1
            continue
        base = Path(dist.locate_file("")).resolve()
        files = []
        for entry in dist.files or []:
            parts = Path(str(entry)).parts
            if not str(entry).endswith(".py") or ".." in parts or _TEST_DIRS & set(parts[:-1]):
                continue
            files.append((base, base / Path(str(entry))))
        selection.distributions.append(f"{name}=={dist.version}")
        found.extend(files)
    return found, selection
