"""The Args section of a docstring completed from a family's shared meanings."""


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


def test_an_argument_documented_nowhere_is_left_for_the_template_test_to_name():
    doc = complete_args(DOC, ["lr", "beta1"], SHARED, {})
    assert "lr: learning rate." in doc and "beta1" not in doc


def test_a_docstring_without_args_comes_back_as_it_is():
    assert complete_args("Summary.\n\n    Example::\n", ["lr"], SHARED) == \
        "Summary.\n\n    Example::\n"
    assert complete_args(None, ["lr"], SHARED) is None


def test_a_users_subclass_is_defined_whatever_its_docstring():
    class Mine(textbook.SGD):
        """My SGD, no Args section."""

    class Documented(textbook.SGD):
        """My SGD.

        Args:
            lr: my own words.
        """

    assert Mine.__doc__ == "My SGD, no Args section."
    assert "params: parameters or param-group dicts." in Documented.__doc__
    assert "lr: my own words. Must be >= 0." in Documented.__doc__


def test_textbook_classes_show_shared_and_own_arguments():
    doc = textbook.AdamW.__doc__
    assert "beta1: :math:`\\beta_1`, the decay of the first moment :math:`m`. Must be in" in doc
    assert "s: :math:`s`, outside the root (as L14 writes it). Must be >= 0." in doc
    assert "s: :math:`s`, inside the root. Must be >= 0." in textbook.Adam.__doc__
