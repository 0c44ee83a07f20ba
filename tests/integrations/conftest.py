"""The tests of the Lightning and Hugging Face callbacks need the `lightning` / `hf` extras:
they are marked `integrations` (excluded from `make test`, run by `make test-integrations`)."""

import pytest

NEED_EXTRAS = {"test_lightning.py", "test_hf.py"}


def pytest_ignore_collect(collection_path, config):
    # a run that deselects them anyway need not import lightning/transformers to find out
    expr = config.getoption("markexpr") or ""
    return "not integrations" in expr and collection_path.name in NEED_EXTRAS


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in NEED_EXTRAS:
            item.add_marker(pytest.mark.integrations)
