"""The Python examples in docs/*.md run as written (each file's blocks in order)."""

import re
from pathlib import Path

import pytest

DOCS = sorted((Path(__file__).resolve().parents[1] / "docs").glob("*.md"))
WITH_CODE = [d for d in DOCS if "```python" in d.read_text()]


# Pages whose examples need optional extras run under `make test-integrations`.
EXTRAS = {"integrations.md": ("lightning", "transformers", "accelerate")}
PARAMS = [pytest.param(d, marks=pytest.mark.integrations) if d.name in EXTRAS else d
          for d in WITH_CODE]


@pytest.mark.parametrize("doc", PARAMS, ids=lambda d: d.name)
def test_doc_examples_run(doc, tmp_path, monkeypatch):
    for module in EXTRAS.get(doc.name, ()):
        pytest.importorskip(module)
    monkeypatch.chdir(tmp_path)  # examples may write runs/ or checkpoints
    namespace: dict = {}
    for block in re.findall(r"```python\n(.*?)```", doc.read_text(), re.S):
        exec(compile(block, str(doc), "exec"), namespace)  # noqa: S102 - our own docs


def test_docs_have_examples():
    assert len(WITH_CODE) >= 3
