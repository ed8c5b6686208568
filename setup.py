"""PyCodeComplete: self-hosted Python autocompletion learned from Python code."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def version():
    # One source: pycodecomplete/__init__.py (read, not imported: setup must not import the package).
    match = re.search(r'^__version__ = "([^"]+)"', (HERE / "pycodecomplete" / "__init__.py").read_text(), re.M)
    return match.group(1)


def requirements():
    # Runtime requirements are the lines above the test section of requirements.txt.
    lines = []
    for line in (HERE / "requirements.txt").read_text().splitlines():
        if line.startswith("# Tests"):
            break
        line = line.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


setup(
    name="pycodecomplete",
    version=version(),
    description="Self-hosted autocompletion for Python code, learned from real Python code",
    long_description=(HERE / "README.md").read_text() if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["pycodecomplete", "pycodecomplete.*", "webapp", "webapp.*"]),
    package_data={"webapp": ["templates/*", "static/**/*"]},
    include_package_data=True,
    install_requires=requirements(),
    entry_points={"console_scripts": ["pycc = pycodecomplete.cli:main"]},
    license="MIT",
)
