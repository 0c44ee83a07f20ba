"""What a result store holds is untrusted: every field read back is checked before use.

A store is a file anybody (or any program) may have changed. Its text ends up in paths,
HTML and figures, so each row is turned into lab objects only after checking it: names
(problem, optimizers) are plain names, text is printable and bounded, numbers are numbers,
curves are lists of numbers. Anything else raises :class:`StoreError` naming the comparison
and the field, and nothing is drawn or written.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import fields
from typing import Any

from ..errors import StoreError  # re-exported: its old home
from .compare import CompareConfig, Comparison
from .lr_range import LRRangeResult
from .runner import RunResult
from .spec_text import parse_call, split_top_level

__all__ = ["StoreError", "comparison", "run", "range_test", "listing"]

_NAME = re.compile(r"[\w.:+-]{1,64}")
_MAX_TEXT = 500
#: Longest optimizer text (``antigrad:AdamW(weight_decay=0.1)@cosine``) a store may hold.
_MAX_LABEL = 200


def _bad(where: str, field: str, value: Any) -> StoreError:
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return StoreError(f"{where} is malformed: {field} = {shown} (not written by antigrad); "
                      "nothing was drawn or written")


def _text(v: Any, where: str, field: str) -> str:
    if not (isinstance(v, str) and len(v) <= _MAX_TEXT and v.isprintable()):
        raise _bad(where, field, v)
    return v


def _name(v: Any, where: str, field: str) -> str:
    if not (isinstance(v, str) and _NAME.fullmatch(v)):
        raise _bad(where, field, v)
    return v


def _label(v: Any, where: str, field: str) -> str:
    """An optimizer as written: a name, or ``NAME(key=literal, ...)@SCHEDULE(...)``
    (checked by syntax only: nothing is imported or evaluated); printable, bounded."""
    if not (isinstance(v, str) and 1 <= len(v) <= _MAX_LABEL and v.isprintable()
            and v.strip() == v):
        raise _bad(where, field, v)
    parts = split_top_level(v, "@")
    try:
        if not 1 <= len(parts) <= 2:
            raise ValueError(v)
        for part in parts:
            parse_call(part)
    except (ValueError, TypeError):
        raise _bad(where, field, v) from None
    return v


def _seeds(v: Any, where: str) -> int | list[int]:
    if isinstance(v, list):
        if not 1 <= len(v) <= 1000:
            raise _bad(where, "config.seeds", v)
        return [_int(s, where, "config.seeds") for s in v]
    return _int(v, where, "config.seeds", lo=1)


def _int(v: Any, where: str, field: str, lo: int = 0, none: bool = False) -> int | None:
    if v is None and none:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise _bad(where, field, v)
    return v


def _real(v: Any, where: str, field: str, none: bool = False, finite: bool = False
          ) -> float | None:
    if v is None and none:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or (
            finite and not math.isfinite(v)):
        raise _bad(where, field, v)
    return float(v)


def _flag(v: Any, where: str, field: str) -> bool:
    if v not in (0, 1) or isinstance(v, float):
        raise _bad(where, field, v)
    return bool(v)


def _json(text: Any, where: str, field: str) -> Any:
    try:
        return json.loads(_text_blob(text, where, field))
    except (ValueError, RecursionError):
        raise _bad(where, field, text) from None


def _text_blob(v: Any, where: str, field: str) -> str:
    if not isinstance(v, str):
        raise _bad(where, field, v)
    return v


def _reals(v: Any, where: str, field: str, none: bool = False) -> list[float]:
    if not isinstance(v, list):
        raise _bad(where, field, v)
    return [_real(x, where, field, none=none) for x in v]


def _tuples(v: Any, where: str, field: str, size: int) -> list[tuple]:
    """``[[step, number, ...], ...]``: an int step then ``size - 1`` numbers per entry."""
    if not isinstance(v, list):
        raise _bad(where, field, v)
    out = []
    for item in v:
        if not (isinstance(item, list) and len(item) == size):
            raise _bad(where, field, item)
        out.append((_int(item[0], where, field), *(_real(x, where, field) for x in item[1:])))
    return out


def _config(d: Any, where: str) -> CompareConfig:
    known = {f.name for f in fields(CompareConfig)}
    if not isinstance(d, dict) or not set(d) <= known or "problem" not in d:
        raise _bad(where, "config", d)
    w, c = where, dict(d)
    c["problem"] = _name(c["problem"], w, "config.problem")
    opts = c.get("optimizers", [])
    if not isinstance(opts, list) or not 1 <= len(opts) <= 100:
        raise _bad(w, "config.optimizers", opts)
    c["optimizers"] = [_label(o, w, "config.optimizers") for o in opts]
    if c.get("lr_method", "grid") not in ("grid", "range"):
        raise _bad(w, "config.lr_method", c["lr_method"])
    if c.get("lrs") is not None:
        c["lrs"] = _reals(c["lrs"], w, "config.lrs")
    if "grid_points" in c:
        c["grid_points"] = _int(c["grid_points"], w, "config.grid_points", lo=1)
    if "seeds" in c:
        c["seeds"] = _seeds(c["seeds"], w)
    for key in ("steps", "batch_size", "eval_every", "budget"):
        c[key] = _int(c.get(key), w, f"config.{key}", lo=1, none=True)
    _tuning_config(c, w)
    return CompareConfig(**c)


def _tuning_config(c: dict[str, Any], where: str) -> None:
    """The tuning protocol's search names and group sizes (ensemble, restarts), checked in
    place (absent in stores from before them: the defaults)."""
    if "search" in c:
        if not isinstance(c["search"], list) or not 1 <= len(c["search"]) <= 10:
            raise _bad(where, "config.search", c["search"])
        c["search"] = [_name(n, where, "config.search") for n in c["search"]]
    for key in ("ensemble", "restarts"):
        if key in c:
            c[key] = _int(c[key], where, f"config.{key}", lo=1)


def comparison(row: tuple, cid: int, where: str) -> Comparison:
    """A :class:`Comparison` (no runs yet) from a ``comparisons`` row: ``created, problem,
    title, metric, higher_is_better, target, config, chosen_lr, seconds, complete``."""
    created, _, title, metric, hib, target, config, chosen, seconds, complete = row
    chosen_lr = _json(chosen, where, "chosen_lr")
    if not isinstance(chosen_lr, dict):
        raise _bad(where, "chosen_lr", chosen_lr)
    return Comparison(
        _config(_json(config, where, "config"), where), _text(metric, where, "metric"),
        _flag(hib, where, "higher_is_better"), _real(target, where, "target", finite=True),
        _text(title, where, "title"),
        chosen_lr={_label(k, where, "chosen_lr"): _real(v, where, "chosen_lr")
                   for k, v in chosen_lr.items()},
        created=_text(created, where, "created"),
        seconds=_real(seconds, where, "seconds", finite=True), id=cid,
        complete=_flag(complete, where, "complete"))


def run(row: tuple, where: str) -> RunResult:
    """A :class:`RunResult` from a ``runs`` row."""
    (opt, lr, seed, phase, steps, div, fl, fm, sec, stt, sect, losses, evals, params) = row
    if phase not in ("tune", "final", "ensemble"):
        raise _bad(where, "run phase", phase)
    return RunResult(
        _label(opt, where, "run optimizer"), _real(lr, where, "run lr"),
        _int(seed, where, "run seed"), _int(steps, where, "run steps"),
        _flag(div, where, "run diverged"), _or_nan(_real(fl, where, "final_loss", none=True)),
        _or_nan(_real(fm, where, "final_metric", none=True)), _real(sec, where, "run seconds"),
        _int(stt, where, "steps_to_target", none=True),
        _real(sect, where, "seconds_to_target", none=True),
        _tuples(_json(losses, where, "run losses"), where, "run losses", 2),
        _tuples(_json(evals, where, "run evals"), where, "run evals", 3), phase,
        _params(_json(params, where, "run params"), where))


def _params(d: Any, where: str) -> dict[str, Any]:
    """A run's drawn hyperparameters: plain names to finite numbers, booleans or names."""
    if not isinstance(d, dict):
        raise _bad(where, "run params", d)
    for key, value in d.items():
        _name(key, where, "run params")
        if isinstance(value, bool):
            continue
        if isinstance(value, str):
            _name(value, where, "run params")
        else:
            _real(value, where, "run params", finite=True)
    return d


def _or_nan(x: float | None) -> float:
    return math.nan if x is None else x


def range_test(data: Any, where: str) -> LRRangeResult:
    """An :class:`LRRangeResult` from its stored JSON."""
    d = _json(data, where, "range test")
    names = {f.name for f in fields(LRRangeResult)}
    if not isinstance(d, dict) or set(d) != names:
        raise _bad(where, "range test", d)
    w = where
    return LRRangeResult(
        lrs=_reals(d["lrs"], w, "range test lrs"),
        losses=_reals(d["losses"], w, "range test losses"),
        smoothed=_reals(d["smoothed"], w, "range test smoothed"),
        suggestion=_real(d["suggestion"], w, "range test suggestion", none=True),
        method=_text(d["method"], w, "range test method"),
        lr_at_min=_real(d["lr_at_min"], w, "range test lr_at_min"),
        diverged_at=_real(d["diverged_at"], w, "range test diverged_at", none=True),
        optimizer=_label(d["optimizer"], w, "range test optimizer"))


def listing(row: tuple, path: Any) -> dict[str, object]:
    """``id, created, problem, seconds, complete`` of one comparison, checked."""
    cid, created, problem, seconds, complete = row
    where = f"comparison {cid!r} in {path}"
    return {"id": _int(cid, where, "id"), "created": _text(created, where, "created"),
            "problem": _text(problem, where, "problem"),
            "seconds": _real(seconds, where, "seconds", finite=True),
            "complete": _flag(complete, where, "complete")}
