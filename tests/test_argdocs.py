"""The Args section of a docstring completed from a family's shared meanings."""

import pytest

from antigrad import textbook
from antigrad._argdocs import complete_args
from antigrad.validation import NON_NEGATIVE, UNIT

DOC = """Summary.

    Args:
        s: outside the root, as this method
            writes it.

    Example::

        >>> 1 + 1
        2
    """
SHARED = {"params": "the parameters.", "lr": "learning rate.", "s": "inside the root."}


def test_entries_follow_the_signature_own_meanings_first():
    doc = complete_args(DOC, ["params", "lr", "s"], SHARED, {"lr": NON_NEGATIVE})
    assert doc.split("\n")[2:8] == [
        "    Args:",
        "        params: the parameters.",
        "        lr: learning rate. Must be >= 0.",
        "        s: outside the root, as this method writes it.",
        "",
        "    Example::"]
    assert doc.endswith("        2\n    ")


def test_a_long_entry_wraps_under_its_name():
    long = {"gamma": "the momentum, " * 10}
    lines = complete_args(DOC, ["gamma"], long, {"gamma": UNIT}).split("\n")
    entry = lines[3:lines.index("", 3)]
    assert len(entry) > 1 and all(len(line) <= 92 for line in entry)
    assert entry[0].startswith("        gamma: the momentum,")
    assert all(line.startswith(" " * 12) for line in entry[1:])
    assert " ".join(line.strip() for line in entry).endswith("Must be in [0, 1).")


def test_an_argument_documented_nowhere_is_named():
    with pytest.raises(ValueError, match="'beta1' is documented nowhere"):
        complete_args(DOC, ["lr", "beta1"], SHARED, {})


def test_a_docstring_without_args_is_refused():
    with pytest.raises(ValueError, match="no 'Args:' section"):
        complete_args("Summary.\n\n    Example::\n", ["lr"], SHARED, {})


def test_textbook_classes_show_shared_and_own_arguments():
    doc = textbook.AdamW.__doc__
    assert "beta1: :math:`\\beta_1`, the decay of the first moment :math:`m`. Must be in" in doc
    assert "s: :math:`s`, outside the root (as L14 writes it). Must be >= 0." in doc
    assert "s: :math:`s`, inside the root. Must be >= 0." in textbook.Adam.__doc__
