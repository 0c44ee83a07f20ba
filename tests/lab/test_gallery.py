"""The report's gallery cache: drawn once, then read back; a new key for anything the
pictures depend on; a broken entry redrawn; an unwritable cache warned about and skipped."""

import hashlib
import html
import json
import os
import warnings

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from antigrad.lab import CompareConfig, figures, run_compare, write_report  # noqa: E402
from antigrad.lab import gallery as gallery_mod  # noqa: E402
from antigrad.lab.gallery import cache_key, gallery_pictures, gallery_root  # noqa: E402

DRAWN: list[str] = []


def draw_line() -> Figure:
    DRAWN.append("line")
    fig = Figure(figsize=(2, 1.5))
    ax = fig.subplots()
    ax.plot([0, 1, 2], [2, 0, 1])
    ax.set_title("a line")
    return fig


def draw_bars() -> Figure:
    DRAWN.append("bars")
    fig = Figure(figsize=(2, 1.5))
    fig.subplots().bar([0, 1], [1, 2])
    fig.suptitle("two bars")
    return fig


@pytest.fixture
def small_gallery(monkeypatch):
    """Two quick pictures in place of the lecture's twelve; the warning flag reset."""
    monkeypatch.setattr(figures, "LECTURE_FIGURES", {"line": draw_line, "bars": draw_bars})
    monkeypatch.setattr(gallery_mod, "_warned", False)
    DRAWN.clear()
    return DRAWN


def entries(root):
    return sorted(p.name for p in root.iterdir())


def test_first_report_draws_later_ones_read_the_same_bytes(small_gallery, tmp_path):
    first = gallery_pictures(tmp_path)
    assert small_gallery == ["line", "bars"]
    assert list(first) == ["line", "bars"]
    assert first["line"].caption == "a line" and first["bars"].caption == "two bars"
    assert entries(tmp_path) == [cache_key()]  # one entry, no temporary folder left
    again = gallery_pictures(tmp_path)
    assert small_gallery == ["line", "bars"]  # nothing drawn the second time
    assert again == first


def test_a_changed_ingredient_is_a_new_entry(small_gallery, tmp_path, monkeypatch):
    gallery_pictures(tmp_path)
    old = cache_key()
    monkeypatch.setattr(matplotlib, "__version__", "0.0.1")
    assert cache_key() != old
    gallery_pictures(tmp_path)
    assert small_gallery == ["line", "bars"] * 2
    with matplotlib.rc_context({"lines.linewidth": 7.0}):  # a user's style changes pictures
        key = cache_key()
        gallery_pictures(tmp_path)
    assert key not in (old, cache_key()) and len(small_gallery) == 6
    monkeypatch.setattr(gallery_mod, "_source_digest", lambda: "other source")
    gallery_pictures(tmp_path)
    assert len(small_gallery) == 8 and len(entries(tmp_path)) == 4


def test_source_digest_follows_every_module(tmp_path, monkeypatch):
    package = tmp_path / "antigrad"
    (package / "lab").mkdir(parents=True)
    (package / "lab" / "x.py").write_text("A = 1\n")
    (package / "y.py").write_text("B = 2\n")
    monkeypatch.setattr(gallery_mod, "_package_root", lambda: package)
    before = gallery_mod._source_digest()
    (package / "lab" / "x.py").write_text("A = 2\n")
    edited = gallery_mod._source_digest()
    (package / "lab" / "z.py").write_text("")
    assert len({before, edited, gallery_mod._source_digest()}) == 3


def test_real_package_root_holds_the_gallery_module():
    assert (gallery_mod._package_root() / "lab" / "gallery.py").exists()


@pytest.mark.parametrize("damage", ["truncate", "remove", "manifest", "empty-folder"])
def test_a_broken_entry_is_redrawn_and_replaced(small_gallery, tmp_path, damage):
    first = gallery_pictures(tmp_path)
    entry = tmp_path / cache_key()
    png = entry / "00.png"
    if damage == "truncate":
        png.write_bytes(png.read_bytes()[:100])
    elif damage == "remove":
        png.unlink()
    elif damage == "manifest":
        (entry / "manifest.json").write_text("{not json")
    else:
        for path in entry.iterdir():
            path.unlink()
    assert gallery_pictures(tmp_path) == first
    assert small_gallery == ["line", "bars"] * 2
    assert entries(tmp_path) == [cache_key()]
    assert gallery_pictures(tmp_path) == first and len(small_gallery) == 4  # intact again


def test_a_failed_draw_leaves_no_entry(small_gallery, tmp_path, monkeypatch):
    def boom():
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(figures, "LECTURE_FIGURES", {"line": draw_line, "boom": boom})
    with pytest.raises(RuntimeError, match="drawing failed"):
        gallery_pictures(tmp_path)
    assert entries(tmp_path) == []


def test_a_half_written_entry_is_never_read(small_gallery, tmp_path, monkeypatch):
    """A run killed before the rename leaves only a temporary folder: not an entry."""
    def killed(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(gallery_mod.os, "rename", killed)
    with pytest.raises(KeyboardInterrupt):
        gallery_pictures(tmp_path)
    monkeypatch.undo()
    monkeypatch.setattr(figures, "LECTURE_FIGURES", {"line": draw_line, "bars": draw_bars})
    assert cache_key() not in entries(tmp_path)
    gallery_pictures(tmp_path)
    assert small_gallery == ["line", "bars"] * 2 and cache_key() in entries(tmp_path)


def test_an_unwritable_cache_warns_once_and_draws(small_gallery, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.warns(RuntimeWarning, match="cannot write its gallery cache"):
        first = gallery_pictures(blocker / "gallery")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = gallery_pictures(blocker / "gallery")
    assert first == second and small_gallery == ["line", "bars"] * 2
    assert blocker.read_text() == "not a folder" and entries(tmp_path) == ["file"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_cache_warns_and_draws(small_gallery, tmp_path):
    root = tmp_path / "ro"
    root.mkdir(mode=0o500)
    try:
        with pytest.warns(RuntimeWarning, match="cannot write its gallery cache"):
            pictures = gallery_pictures(root)
        assert list(pictures) == ["line", "bars"] and entries(root) == []
    finally:
        root.chmod(0o700)


def test_the_cache_folder_follows_the_environment(small_gallery, tmp_path, monkeypatch):
    monkeypatch.setenv("ANTIGRAD_CACHE_DIR", str(tmp_path / "mine"))
    assert gallery_root() == tmp_path / "mine" / "gallery"
    gallery_pictures()
    assert entries(tmp_path / "mine" / "gallery") == [cache_key()]
    monkeypatch.delenv("ANTIGRAD_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert gallery_root() == tmp_path / "xdg" / "antigrad" / "gallery"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert gallery_root() == tmp_path / "home" / ".cache" / "antigrad" / "gallery"


def test_manifest_records_each_png_hash(small_gallery, tmp_path):
    pictures = gallery_pictures(tmp_path)
    manifest = json.loads((tmp_path / cache_key() / "manifest.json").read_text())
    assert [p["stem"] for p in manifest["pictures"]] == ["line", "bars"]
    for item, picture in zip(manifest["pictures"], pictures.values(), strict=True):
        assert item["sha256"] == hashlib.sha256(picture.png).hexdigest()


def test_cached_and_freshly_drawn_reports_are_identical(tmp_path, monkeypatch):
    """The report from the cache equals one drawn from the Figures as before: the same files,
    captions and bytes."""
    chosen = {k: figures.LECTURE_FIGURES[k] for k in ("steepest-descent", "lr-regimes")}
    monkeypatch.setattr(figures, "LECTURE_FIGURES", chosen)
    cmp = run_compare(CompareConfig("breast-cancer", ["sgd"], grid_points=1, seeds=1,
                                    steps=10, eval_every=5))
    drawn = {stem: draw() for stem, draw in chosen.items()}
    fresh = write_report(cmp, tmp_path / "fresh", gallery=drawn).parent
    cold = write_report(cmp, tmp_path / "cold", gallery=gallery_pictures(tmp_path / "c")).parent
    warm = write_report(cmp, tmp_path / "warm", gallery=gallery_pictures(tmp_path / "c")).parent
    files = sorted(p.name for p in fresh.iterdir())
    assert "lecture-lr-regimes.png" in files
    for report in (cold, warm):
        assert sorted(p.name for p in report.iterdir()) == files
        for name in files:
            assert (report / name).read_bytes() == (fresh / name).read_bytes(), name
    drawn["lr-regimes"].savefig(tmp_path / "direct.png", dpi=100)
    assert (tmp_path / "direct.png").read_bytes() == (warm / "lecture-lr-regimes.png").read_bytes()
    caption = drawn["lr-regimes"].get_suptitle() or drawn["lr-regimes"].axes[0].get_title()
    assert f"<figcaption>{html.escape(caption)}</figcaption>" in (warm / "report.html").read_text()


def test_compare_and_report_draw_the_gallery_once(small_gallery, tmp_path, monkeypatch):
    """`antigrad compare` draws the gallery into $ANTIGRAD_CACHE_DIR/gallery; `antigrad
    report` then reads it: nothing drawn, the same pictures and captions."""
    from cli_runner import in_fresh_folder, run

    in_fresh_folder(tmp_path, monkeypatch)
    monkeypatch.setenv("ANTIGRAD_CACHE_DIR", str(tmp_path / "cache"))
    r = run("compare", "--problem", "breast-cancer", "-o", "sgd", "--grid-points", "1",
            "--seeds", "1", "--steps", "10", "--out", "first")
    assert r.exit_code == 0, r.output
    assert small_gallery == ["line", "bars"]
    assert entries(tmp_path / "cache" / "gallery") == [cache_key()]
    r = run("report", "1", "--out", "again")
    assert r.exit_code == 0, r.output
    assert small_gallery == ["line", "bars"]  # read from the cache, not drawn
    first, again = tmp_path / "first", tmp_path / "again"
    assert sorted(p.name for p in first.iterdir()) == sorted(p.name for p in again.iterdir())
    for name in ("lecture-line.png", "lecture-bars.png"):
        assert (first / name).read_bytes() == (again / name).read_bytes()
    for caption in ("a line", "two bars"):
        assert f"<figcaption>{caption}</figcaption>" in (again / "report.html").read_text()


def test_only_the_most_recently_used_entries_are_kept(small_gallery, tmp_path):
    old = [tmp_path / f"{i:032x}" for i in range(6)]
    for age, entry in enumerate(old):  # entry 0 the most recently used
        entry.mkdir()
        (entry / "00.png").write_bytes(b"x")
        os.utime(entry, (1e9 - age, 1e9 - age))
    stale, fresh = tmp_path / f".{0:032x}.killed", tmp_path / f".{1:032x}.writing"
    stale.mkdir()
    os.utime(stale, (1e9, 1e9))
    fresh.mkdir()
    others = [tmp_path / "notes.txt", tmp_path / "0123", tmp_path / ".hidden"]
    others[0].write_text("mine")
    others[1].mkdir()
    others[2].mkdir()
    os.utime(others[2], (1e9, 1e9))
    gallery_pictures(tmp_path)
    kept = [cache_key(), *(p.name for p in old[:gallery_mod.KEEP - 1])]
    assert entries(tmp_path) == sorted([*kept, fresh.name, *(p.name for p in others)])
    os.utime(old[2], None)  # used just now: kept over the newer ones
    with matplotlib.rc_context({"lines.linewidth": 3.0}):
        gallery_pictures(tmp_path)
        newest = cache_key()
    assert {cache_key(), newest, old[2].name} < set(entries(tmp_path))
    assert len([n for n in entries(tmp_path) if len(n) == 32]) == gallery_mod.KEEP


def test_a_cache_hit_marks_its_entry_used(small_gallery, tmp_path):
    gallery_pictures(tmp_path)
    entry = tmp_path / cache_key()
    os.utime(entry, (1e9, 1e9))
    gallery_pictures(tmp_path)
    assert entry.stat().st_mtime > 1e9 + 1
