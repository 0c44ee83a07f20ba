"""The examples in the training modules' docstrings run and give what they show."""

import doctest
import importlib

import pytest

MODULES = ["antigrad.schedules", "antigrad.schedules.closed_form", "antigrad.schedules.chaining",
           "antigrad.schedules.verdict", "antigrad.stop", "antigrad.train.fit",
           "antigrad.train.callbacks", "antigrad.train.checkpoint", "antigrad.train.ensemble",
           "antigrad.train.lr_finder", "antigrad.train.batch_size"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
