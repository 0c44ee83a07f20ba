"""The HTML report of a comparison: figures, the results table, the settings.

:func:`write_report` renders everything into a fresh temporary folder beside the target
and renames it into place only when complete, so a failure never leaves a half-written
report. An older report at the same place is replaced whole, but only a folder antigrad
made (it holds the marker file :data:`~antigrad.lab.outdir.MARKER`) or an empty one:
anything else raises :class:`~antigrad.lab.outdir.ReportDirError` and is left untouched.
The report is one ``report.html`` that references its PNG figures by relative path, plus
``summary.txt``; it loads nothing from the network and runs no script.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from .compare import Comparison
from .figures.comparison import comparison_figures
from .gallery import DPI, Picture, render
from .outdir import MARKER, MARKER_TEXT, check_report_dir, safe_name
from .table import HEADERS, summary_rows, summary_text
from .tuning import tuning_text

__all__ = ["write_report", "render_html", "default_report_dir"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#222}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9rem;margin:1rem 0}
th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
th{background:#f3f3f3}td:nth-child(2){text-align:left;font-weight:600}
figure{margin:1.5rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.9rem}pre{background:#f7f7f7;padding:.8rem;overflow:auto}
"""


def default_report_dir(cmp: Comparison, root: str | Path = "runs") -> Path:
    """``runs/<id>-<problem>`` (``runs/report-<problem>`` before the comparison is saved);
    the problem name is reduced to a harmless path component (it may come from a store)."""
    stem = f"{int(cmp.id):04d}" if cmp.id is not None else "report"
    return Path(root) / f"{stem}-{safe_name(cmp.config.problem)}"


def _e(value: object, spec: str = "") -> str:
    """``value`` formatted (numbers by ``spec``) and HTML-escaped: every text on the page
    goes through here, since a comparison may come from an edited store."""
    if spec and isinstance(value, int | float) and not isinstance(value, bool):
        return html.escape(format(value, spec))
    return html.escape(str(value))


def _seeds_text(cmp: Comparison) -> str:
    seeds = cmp.config.seed_list()
    return (f"{len(seeds)} seed(s)" if isinstance(cmp.config.seeds, int)
            else f"seeds {', '.join(map(str, seeds))}")


def _lr_choice(cmp: Comparison) -> str:
    """How the lr was chosen, in a sentence."""
    if cmp.config.budget is not None:
        return (f"Learning rate per optimizer chosen by {cmp.config.budget} trials of a "
                "search scored on a validation split of the training data (never on the "
                "test set)")
    return (f"Learning rate per optimizer chosen by {cmp.config.lr_method} on the final "
            "training loss of seed 0 (never on the test metric)")


def _figure_block(stem: str, fig_title: str) -> str:
    return (f'<figure id="fig-{_e(stem)}"><img src="{_e(stem)}.png" alt="{_e(fig_title)}">'
            f"<figcaption>{_e(fig_title)}</figcaption></figure>")


def render_html(cmp: Comparison, figures: Mapping[str, str],
                gallery: Mapping[str, str] | None = None) -> str:
    """The report page; ``figures``/``gallery`` map PNG stems to captions."""
    head = "".join(f"<th>{_e(h)}</th>" for h in HEADERS)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>"
                   for row in summary_rows(cmp))
    config = json.dumps(asdict(cmp.config), indent=2)
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<link rel="icon" href="data:,">',
        f"<title>antigrad compare: {_e(cmp.config.problem)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>antigrad compare — {_e(cmp.title)}</h1>",
        f"<p>Metric: <b>{_e(cmp.metric)}</b> on the test set "
        f"({'higher' if cmp.higher_is_better else 'lower'} is better), target "
        f"<b>{_e(cmp.target, 'g')}</b>. {_e(_lr_choice(cmp))}; "
        f"then {_e(_seeds_text(cmp))} at that lr. "
        f"Created {_e(cmp.created)}, {_e(cmp.seconds, '.1f')} s in all.</p>",
        *([] if cmp.complete else [
            f'<p id="incomplete"><b>Interrupted:</b> this comparison did not finish; shown '
            f"are the {len(cmp.runs)} run(s) that did.</p>"]),
        "<h2>Results</h2>",
        f'<table id="results"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>',
        "<p>Steps and seconds to target: median over the seeds that reached it; seconds "
        "count training steps only, not evaluations.</p>",
        *([] if cmp.config.budget is None else [
            '<h2>Tuning</h2><pre id="tuning">', _e(tuning_text(cmp).strip()), "</pre>"]),
        "<h2>Figures</h2>",
        *(_figure_block(stem, caption) for stem, caption in figures.items()),
    ]
    if gallery:
        parts += ["<h2>The lecture's pictures</h2>",
                  *(_figure_block(stem, caption) for stem, caption in gallery.items())]
    parts += ["<h2>Settings</h2>", f"<pre>{_e(config)}</pre>", "</body></html>"]
    return "\n".join(parts)


def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=DPI)


def write_report(cmp: Comparison, out_dir: str | Path | None = None,
                 gallery: Mapping[str, Figure | Picture] | None = None) -> Path:
    """Write ``report.html`` (+ figures, ``summary.txt``) into ``out_dir``; return its path.

    ``out_dir`` defaults to :func:`default_report_dir`; ``gallery`` adds extra figures in
    their own section, each a matplotlib Figure or a rendered
    :class:`~antigrad.lab.gallery.Picture` (e.g. the lecture's pictures from
    :func:`~antigrad.lab.gallery.gallery_pictures`, drawn once and then cached): the
    report is the same either way.
    Raises :class:`~antigrad.lab.outdir.ReportDirError` for a folder antigrad must not
    replace (checked before drawing and again before the rename).
    """
    final = check_report_dir(out_dir if out_dir is not None else default_report_dir(cmp))
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        captions = {}
        with matplotlib.rc_context({"text.parse_math": False}):  # names are not TeX
            drawn = comparison_figures(cmp)
        for stem, fig in drawn.items():
            _save(fig, tmp / f"{stem}.png")
            captions[stem] = fig.axes[0].get_title() or stem
        extra = {}
        for stem, item in (gallery or {}).items():
            picture = item if isinstance(item, Picture) else render(item, stem)
            (tmp / f"lecture-{stem}.png").write_bytes(picture.png)
            extra[f"lecture-{stem}"] = picture.caption
        (tmp / "report.html").write_text(render_html(cmp, captions, extra), encoding="utf-8")
        (tmp / "summary.txt").write_text(summary_text(cmp) + tuning_text(cmp),
                                         encoding="utf-8")
        (tmp / MARKER).write_text(MARKER_TEXT, encoding="utf-8")
        os.chmod(tmp, 0o755)
        check_report_dir(final)  # again: the folder may have changed while we drew
        if final.exists() and any(final.iterdir()):
            old = final.parent / f".{final.name}.old-{os.getpid()}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)  # an empty folder is replaced, a non-empty one refused
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final / "report.html"
