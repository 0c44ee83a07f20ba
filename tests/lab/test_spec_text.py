"""Optimizer and schedule texts are parsed, never evaluated."""

import re

import pytest

from antigrad.lab.spec_text import MAX_TEXT, parse_call, split_top_level


def test_names_and_literal_keywords():
    assert parse_call("adam") == ("adam", {})
    assert parse_call(" torch:SGD(momentum=0.9, nesterov=True) ") == \
        ("torch:SGD", {"momentum": 0.9, "nesterov": True})
    assert parse_call("m.sub:make(betas=(0.9, 0.95), mode='cg', extra={'a': [1, None]})") == \
        ("m.sub:make", {"betas": (0.9, 0.95), "mode": "cg", "extra": {"a": [1, None]}})


def test_split_at_top_level_only():
    text = "sgd, adam(betas=(0.8, 0.9)), torch:Adam(eps=1e-6)@cosine, x(s='a,b')"
    assert split_top_level(text, ",") == ["sgd", "adam(betas=(0.8, 0.9))",
                                          "torch:Adam(eps=1e-6)@cosine", "x(s='a,b')"]
    assert split_top_level("sgd(m=0.9)@StepLR(step_size=5)", "@") == \
        ["sgd(m=0.9)", "StepLR(step_size=5)"]


@pytest.mark.parametrize("text, why", [
    ("adam(eps=__import__('os').system('touch pwned'))", "not a literal"),
    ("adam(eps=open('pwned', 'w'))", "not a literal"),
    ("adam(lambda: 1)", "by keyword"),
    ("adam(0.1)", "by keyword"),
    ("adam(eps=1)(x=2)", "by keyword"),
    ("adam(**{'eps': 1})", "'**' is not allowed"),
    ("adam(eps=1, eps=2)", "given twice"),
    ("adam(eps=1", "cannot read"),
    ("ad am", "invalid name"),
    ("(eps=1)", "invalid name"),
    ("adam(x=" + "1" * MAX_TEXT + ")", "longer than"),
])
def test_refused_and_nothing_runs(text, why, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=re.escape(why)):
        parse_call(text)
    assert list(tmp_path.iterdir()) == []  # nothing was evaluated
