"""The lab's names: what draws (and so imports matplotlib) is loaded on first use."""

import subprocess
import sys

import pytest

import antigrad.lab


def test_importing_the_lab_and_its_worker_does_not_import_matplotlib():
    code = ("import sys, antigrad.lab, antigrad.lab.worker\n"
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def test_the_drawing_names_are_the_modules_own_on_first_use():
    from antigrad.lab import (
        default_report_dir,
        figures,
        gallery,
        gallery_pictures,
        report,
        write_report,
    )

    assert figures.plot_lr_regimes is antigrad.lab.figures.plot_lr_regimes
    assert (write_report, default_report_dir) == (report.write_report,
                                                  report.default_report_dir)
    assert gallery_pictures is gallery.gallery_pictures
    for name in antigrad.lab.__all__:
        getattr(antigrad.lab, name)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        antigrad.lab.nothing  # noqa: B018
