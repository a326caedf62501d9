"""The docs that cannot go stale: the generated config reference, the README's size and commands."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from graphsep.config import load_config, valid_keys
from graphsep.config.reference import field_comments, main, render
from graphsep.config.schema import DataConfig
from graphsep.core.config import CoreConfig

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
README_LIMIT = 10_240  # bytes: a newcomer reads it in five minutes


def _setup_blocks() -> list[str]:
    """The code blocks of the README's ``## Set-up`` section, in order."""
    text = README.read_text()
    section = text.split("\n## Set-up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)


def test_configuration_doc_is_the_generated_reference(tmp_path):
    assert (REPO / "docs" / "configuration.md").read_text() == render()
    stale = tmp_path / "configuration.md"
    stale.write_text(render().replace("model width D", "model width"))
    assert main(["--check", str(stale)]) == 1
    assert main(["--check", str(REPO / "docs" / "configuration.md")]) == 0


def test_reference_reads_trailing_and_leading_field_comments():
    core = field_comments(CoreConfig)
    assert core["num_heads"] == "attention heads H; must divide dim"
    data = field_comments(DataConfig)
    assert data["batch_chunks"].startswith("training batches padded as this many size-sorted")
    assert data["batch_chunks"].endswith("pad about as little as size-bucketed ones")
    assert "num_workers" in data and "corpus" not in data  # a section has no comment of its own


def test_reference_lists_every_key_with_its_allowed_values():
    lines = render().splitlines()
    rows = {line.split("|")[1].strip().strip("`"): line for line in lines if line.startswith("| `")}
    assert sorted(set(valid_keys()) - set(rows)) == []
    assert "one of sep, share" in rows["model.core.norm"]
    assert "in [0, 1)" in rows["model.core.attn_dropout"]
    assert "each entry >= 1" in rows["model.graph.node_dims"]
    assert "`[5, 6, 2]`" in rows["model.graph.edge_dims"]  # OGB's bond dims, from the factory
    assert rows["model.dim"].endswith("| `model.core.dim` |")  # a 0.1 key and its new place


def test_readme_is_short():
    assert README.stat().st_size <= README_LIMIT


def test_readme_setup_commands_name_files_that_exist():
    blocks = _setup_blocks()
    assert len(blocks) == 2  # install + quickstart, install + tests
    named = []
    for block in blocks:
        words = shlex.split(block.replace("&&", " "))
        for before, word in zip(["", *words[:-1]], words, strict=True):
            if re.fullmatch(r"[\w./-]+\.(py|yaml)", word):
                named.append(word)
                assert (REPO / word).is_file(), f"README set-up names {word}, which is missing"
            if before == "-e":  # pip install -e . or -e ".[test]": the project and its extra
                extra = re.fullmatch(r"\.(\[(\w+)\])?", word)
                assert extra is not None, f"README set-up installs {word}, not this project"
                pyproject = (REPO / "pyproject.toml").read_text()
                assert extra[2] is None or f"\n{extra[2]} = [" in pyproject
    assert {"train.py", "configs/quickstart.yaml"} <= set(named)
    load_config(REPO / "configs" / "quickstart.yaml")


def test_readme_test_command_is_what_ci_runs():
    ci_last = (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]
    readme_test = _setup_blocks()[1].strip().split("&&")[-1].strip()
    assert readme_test == ci_last == "python -m pytest -q"


def test_every_config_the_docs_name_exists():
    docs = [README, *sorted((REPO / "docs").glob("*.md"))]
    for doc in docs:
        for name in re.findall(r"configs/[\w.-]+\.yaml", doc.read_text()):
            assert (REPO / name).is_file(), f"{doc.name} names {name}, which is missing"


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_between_the_docs_reaches_a_file_and_heading():
    docs = [README, *sorted((REPO / "docs").glob("*.md"))]
    checked = 0
    for doc in docs:
        for target, anchor in re.findall(r"\]\(([\w./-]+\.md)(?:#([\w-]+))?\)", doc.read_text()):
            linked = (doc.parent / target).resolve()
            assert linked.is_file(), f"{doc.name} links to {target}, which is missing"
            headings = re.findall(r"^#+ (.+)$", linked.read_text(), flags=re.MULTILINE)
            assert not anchor or anchor in {_anchor(h) for h in headings}, f"{doc.name}: #{anchor}"
            checked += 1
    assert checked >= 7  # the README's table of docs, at least
