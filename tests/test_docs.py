"""The documentation stays true to the tree: the README stays short, every relative link
leads to a file (and heading) in the repository, and every path or module named in
backticks exists. No app, no database."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCUMENTS = sorted(
    [
        README,
        *(ROOT / "docs").glob("*.md"),
        ROOT / "bench/README.md",
        ROOT / "negotiation/README.md",
    ]
)
README_MAX_LINES = 200

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
CODE = re.compile(r"`([^`\n]+)`")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)
PATH = re.compile(r"(?:portal|negotiation|tests|templates|docs)/[\w./-]*")
# A dotted module or attribute; `portal.py` or `negotiation.py` is a file name, not one.
DOTTED = re.compile(r"(?!.*\.(?:py|md|toml)$)(?:portal|negotiation)(?:\.\w+)+")


def _prose(document: Path) -> str:
    """The document without its fenced code blocks (trees and shell sessions)."""
    return FENCE.sub("", document.read_text(encoding="utf-8"))


def _relative(document: Path) -> str:
    return document.relative_to(ROOT).as_posix()


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(document: Path) -> set[str]:
    return {_slug(heading) for heading in HEADING.findall(_prose(document))}


def _links(document: Path) -> list[str]:
    return [
        target
        for target in LINK.findall(_prose(document))
        if not re.match(r"[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto:
    ]


def _code_tokens(document: Path) -> list[str]:
    """Each word of each inline code span, stripped of the punctuation around it."""
    return [
        token.strip(".,;:()[]\"'")
        for span in CODE.findall(_prose(document))
        for token in span.split()
    ]


def _module_or_attribute(dotted: str) -> bool:
    """Whether ``dotted`` is an importable module, or an attribute reached from one."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            if not hasattr(found, name):
                return False
            found = getattr(found, name)
        return True
    return False


def test_the_readme_is_short():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; at most {README_MAX_LINES}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=_relative)
def test_relative_links_lead_to_files_and_headings_in_the_repository(document):
    broken = []
    for target in _links(document):
        name, _, anchor = target.partition("#")
        path = (document.parent / name).resolve() if name else document
        if not path.is_relative_to(ROOT):
            broken.append(f"{target}: outside the repository")
        elif not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{target}: no such heading")
    assert not broken, f"{_relative(document)}: {broken}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=_relative)
def test_nothing_refers_outside_the_repository(document):
    text = document.read_text(encoding="utf-8")
    outside = [
        target
        for target in re.findall(r"\]\(([^)\s]*)\)", text)
        if target.startswith("../")
        and not (document.parent / target.partition("#")[0]).resolve().is_relative_to(ROOT)
    ]
    outside += re.findall(r"(?:\.\./)+shared/\S*|/work/\S*", text)
    assert not outside, f"{_relative(document)}: {outside}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=_relative)
def test_paths_named_in_backticks_exist(document):
    missing = [
        token
        for token in _code_tokens(document)
        if PATH.fullmatch(token) and not (ROOT / token).exists()
    ]
    assert not missing, f"{_relative(document)}: {missing}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=_relative)
def test_modules_named_in_backticks_exist(document):
    missing = [
        token
        for token in _code_tokens(document)
        if DOTTED.fullmatch(token) and not _module_or_attribute(token)
    ]
    assert not missing, f"{_relative(document)}: {missing}"


def test_the_checks_see_what_they_check():
    """The patterns find the paths, modules and links the README is known to name."""
    tokens = _code_tokens(README)
    assert "portal.contact.gate.judge" in tokens
    assert any(PATH.fullmatch(token) for token in tokens)
    assert "docs/architecture.md" in _links(README)
    assert _slug("The agent console (`console.py`)") == "the-agent-console-consolepy"
    assert not _module_or_attribute("portal.contact.gate.no_such_thing")


def test_no_file_keeps_a_merge_conflicts_markers():
    folders = ("portal", "negotiation", "templates", "static", "translations", "docs", "bench")
    kinds = {".py", ".md", ".html", ".po", ".pot", ".toml", ".css", ".js", ".txt"}
    files = [path for folder in folders for path in (ROOT / folder).rglob("*")]
    files += list((ROOT / "tests").glob("**/*.py")) + list(ROOT.glob("*.md"))
    marked = []
    for path in files:
        if path.suffix not in kinds or "node_modules" in path.parts or not path.is_file():
            continue
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        if any(line.startswith(("<<<<<<< ", ">>>>>>> ")) for line in lines):
            marked.append(_relative(path))
    assert not marked, f"merge conflict markers left in {marked}"
