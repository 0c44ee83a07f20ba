"""The tuning protocol (``compare --budget``): validation split, selection, resume, CLI."""

import json
import math
import sqlite3

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

pytest.importorskip("optuna")

from antigrad.lab import CompareConfig, Store, run_compare, tuning  # noqa: E402
from antigrad.lab.compare import new_comparison  # noqa: E402
from antigrad.lab.tuning import best_so_far, noise_verdicts, validation_problem  # noqa: E402
from antigrad.problems import get_training_problem  # noqa: E402
from cli_runner import in_fresh_folder, run  # noqa: E402
from lab.interrupting import Interrupt  # noqa: E402

FAST = ["-p", "breast-cancer", "-o", "sgd,adam", "--seeds", "2", "--steps", "10",
        "--no-gallery"]


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    return in_fresh_folder(tmp_path, monkeypatch)


# -- the validation split -------------------------------------------------------------------

def test_validation_split_is_carved_from_the_training_rows_the_same_for_every_seed():
    problem = get_training_problem("breast-cancer")
    full, a, b = problem.make(0), validation_problem(problem).make(0), \
        validation_problem(problem).make(3)
    n = len(full.x_train)
    assert len(a.x_test) == round(0.2 * n) and len(a.x_train) + len(a.x_test) == n
    rows = {tuple(r.tolist()) for r in full.x_train}
    held = {tuple(r.tolist()) for r in a.x_test}
    assert held <= rows and not held & {tuple(r.tolist()) for r in a.x_train}
    assert not held & {tuple(r.tolist()) for r in full.x_test}  # the test set is not used
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_test, b.y_test)
    assert validation_problem(problem).metric == "validation accuracy"


@pytest.mark.parametrize("fraction", [0, 1, 1.5, True, "0.2"])
def test_validation_fraction_must_be_inside_0_1(fraction):
    with pytest.raises(ValueError, match="Invalid fraction"):
        validation_problem(get_training_problem("breast-cancer"), fraction)


# -- selection on validation, never on test -------------------------------------------------

SPY_TASKS = """
import torch
from antigrad.problems import Task, TrainingProblem, accuracy, cross_entropy_loss

SEEN = []  # for every evaluation: was it the test set?
g = torch.Generator().manual_seed(0)
X = torch.randn(200, 4, generator=g)
Y = (X[:, 0] + X[:, 1] > 0).long()
X_TEST, Y_TEST = X[160:], 1 - Y[160:]  # flipped: the test set rewards the worst lr

def spy_accuracy(model, x, y):
    SEEN.append(x is X_TEST)
    return accuracy(model, x, y)

def make():
    return TrainingProblem(
        name="spy", metric="test accuracy", higher_is_better=True, target=0.9, steps=15,
        batch_size=20, eval_every=5,
        build=lambda seed: Task(torch.nn.Linear(4, 2), X[:160], Y[:160], X_TEST, Y_TEST,
                                cross_entropy_loss, spy_accuracy))
"""


@pytest.fixture
def spy(tmp_path, monkeypatch):
    import importlib

    (tmp_path / "tuning_spy_tasks.py").write_text(SPY_TASKS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield importlib.import_module("tuning_spy_tasks")
    get_training_problem.cache_clear()


def test_selection_never_evaluates_the_test_set(spy):
    cmp = run_compare(CompareConfig("tuning_spy_tasks:make", ["sgd"], seeds=2, budget=6))
    trials = [r for r in cmp.runs if r.phase == "tune"]
    finals = cmp.final_runs("sgd")
    assert len(trials) == 6 and len(finals) == 2
    evals_in_trials = sum(len(r.evals) for r in trials)
    evals_in_finals = sum(len(r.evals) for r in finals)
    # the trials' evaluations come first and none of them is on the test set
    assert spy.SEEN == [False] * evals_in_trials + [True] * evals_in_finals
    best = max(trials, key=lambda r: r.final_metric)  # the best *validation* accuracy
    assert cmp.chosen_lr["sgd"] == best.lr
    assert all(r.lr == best.lr for r in finals)
    # the flipped test labels would have chosen another lr: the choice ignored them
    assert best.final_metric > 0.8 and all(r.final_metric < 0.5 for r in finals)


# -- resume ---------------------------------------------------------------------------------

def _counting_train_run(monkeypatch):
    calls = []
    real = tuning.train_run

    def counted(problem, spec, lr, seed, **kw):
        calls.append((spec.name, kw.get("phase", "final"), seed))
        return real(problem, spec, lr, seed, **kw)

    monkeypatch.setattr(tuning, "train_run", counted)
    return calls


def test_resume_after_an_interruption_does_not_redo_finished_trials(tmp_path, monkeypatch):
    config = CompareConfig("breast-cancer", ["sgd", "adam"], seeds=2, steps=10, budget=4)
    whole = run_compare(CompareConfig(**vars(config)))
    store = Store(tmp_path / "s.sqlite")
    cmp = new_comparison(config)
    with store.begin(cmp) as recording, pytest.raises(KeyboardInterrupt):
        # trials in rounds (sgd's and adam's first, ...): interrupted after sgd's third
        run_compare(cmp, Interrupt(after=5), recording)
    calls = _counting_train_run(monkeypatch)
    again, recording = store.resume(cmp.id)
    assert len(again.runs) == 5 and not again.complete
    with recording:
        run_compare(again, None, recording)
    assert calls == [("adam", "tune", 0), ("sgd", "tune", 0), ("adam", "tune", 0),
                     ("sgd", "final", 0), ("sgd", "final", 1), ("adam", "final", 0),
                     ("adam", "final", 1)]
    saved = store.load(cmp.id)
    assert saved.complete and len(saved.runs) == 12
    # the same trials as the uninterrupted comparison (the sampler is seeded per trial)
    assert [(r.optimizer, r.phase, r.lr, r.seed) for r in saved.runs] == \
        [(r.optimizer, r.phase, r.lr, r.seed) for r in whole.runs]
    assert saved.chosen_lr == whole.chosen_lr
    with pytest.raises(Exception, match="complete: nothing to resume"):
        store.resume(cmp.id)


def test_cli_resumes_an_interrupted_comparison(in_tmp):
    store = Store("runs/antigrad.sqlite")
    cmp = new_comparison(CompareConfig("breast-cancer", ["sgd"], seeds=2, steps=10, budget=3))
    with store.begin(cmp) as recording, pytest.raises(KeyboardInterrupt):
        run_compare(cmp, Interrupt(after=2), recording)
    r = run("compare", "--resume", str(cmp.id), "--no-gallery")
    assert r.exit_code == 0, r.output
    assert "(at most 50 steps, 3 left)" in " ".join(r.stderr.split())
    con = sqlite3.connect("runs/antigrad.sqlite")
    rows = con.execute("SELECT phase, seed FROM runs ORDER BY id").fetchall()
    assert rows == [("tune", 0)] * 3 + [("final", 0), ("final", 1)]
    assert con.execute("SELECT complete FROM comparisons").fetchall() == [(1,)]


# -- the CLI and the report -----------------------------------------------------------------

def test_compare_with_a_budget_tunes_on_validation_and_reports_best_so_far(in_tmp):
    r = run("compare", *FAST, "--budget", "4")
    assert r.exit_code == 0, r.output
    assert "4 validation trials + 2 seed(s)) = 12 runs" in " ".join(r.stderr.split())
    assert "best validation metric after k trials (of 4" in r.stdout
    assert "ranking after 4 trial(s):" in r.stdout
    cmp = Store("runs/antigrad.sqlite").load(1)
    assert cmp.config.budget == 4 and cmp.complete
    for name in ("sgd", "adam"):
        trials = [x for x in cmp.runs if x.optimizer == name and x.phase == "tune"]
        assert len(trials) == 4 and len(cmp.final_runs(name)) == 2
        assert len(best_so_far(cmp, name)) == 4
    summary = (in_tmp / "runs" / "0001-breast-cancer" / "summary.txt").read_text()
    assert "lr by 4 validation trials" in summary and "mean ± std over seeds" in summary
    page = (in_tmp / "runs" / "0001-breast-cancer" / "report.html").read_text()
    assert 'id="tuning"' in page and "validation split" in page
    assert (in_tmp / "runs" / "0001-breast-cancer" / "tuning.png").is_file()


@pytest.mark.parametrize("args, option", [
    (["--budget", "0"], "--budget"),
    (["--budget", "x"], "--budget"),
    (["--budget", "1001"], "--budget"),
    (["--budget", "3", "--lr", "0.1"], "--budget"),
    (["--budget", "3", "--lr-method", "range"], "--budget"),
    (["--resume", "1"], "--resume"),  # no store yet
    (["--resume", "1", "--budget", "3"], "--resume"),
])
def test_bad_budget_or_resume_exits_2_before_any_work(in_tmp, args, option):
    r = run("compare", *FAST, *args) if "--resume" not in args else run("compare", *args)
    assert r.exit_code == 2 and option in r.output and "Traceback" not in r.output
    assert list(in_tmp.iterdir()) == []


def test_resume_refuses_a_finished_comparison(in_tmp):
    assert run("compare", *FAST, "--grid-points", "1", "--seeds", "1").exit_code == 0
    r = run("compare", "--resume", "1")
    assert r.exit_code == 2 and "complete: nothing to resume" in r.output
    with sqlite3.connect("runs/antigrad.sqlite") as con:
        con.execute("UPDATE comparisons SET complete = 0")
        runs = con.execute("SELECT COUNT(*) FROM runs").fetchone()
    r = run("compare", "--resume", "1", "--no-gallery")  # all stored: it is only finished
    assert r.exit_code == 0, r.output
    with sqlite3.connect("runs/antigrad.sqlite") as con:
        assert con.execute("SELECT COUNT(*) FROM runs").fetchone() == runs
        assert con.execute("SELECT complete FROM comparisons").fetchall() == [(1,)]


def test_noise_verdicts_say_within_noise_when_intervals_overlap():
    cmp = run_compare(CompareConfig("breast-cancer", ["sgd", "adam"], seeds=2, steps=10,
                                    budget=2))
    (line,) = noise_verdicts(cmp)
    a, b = cmp.ranking()
    overlap = abs(a.metric_mean - b.metric_mean) <= a.metric_std + b.metric_std
    assert line.endswith("within noise" if overlap else "apart (beyond seed noise)")
    one = run_compare(CompareConfig("breast-cancer", ["sgd", "adam"], seeds=1, steps=10,
                                    budget=1))
    assert noise_verdicts(one)[0].endswith("noise unknown (fewer than 2 seeds)")
    assert all(math.isfinite(v) for v in best_so_far(one, "adam"))


def test_rankings_after_k_trials_show_ties_as_ties():
    assert tuning._ranking_text([("sgd", 0.9), ("adam", 0.9), ("momentum", 0.8)]) == \
        "sgd = adam > momentum"
    assert tuning._ranking_text([]) == ""


# -- batched replicas -----------------------------------------------------------------------

def test_trials_in_rounds_and_the_seeds_train_as_replicas_with_the_same_results(monkeypatch):
    from antigrad.lab import batching

    sizes = []
    real = batching.train_batch

    def counting(problem, requests, **kw):
        sizes.append((len(requests), {q.phase for q in requests}))
        return real(problem, requests, **kw)

    monkeypatch.setattr(batching, "train_batch", counting)

    def config():  # the nine lecture optimizers: a round of trials is a batch of nine
        return CompareConfig("breast-cancer", seeds=2, steps=8, budget=2)

    together, alone = run_compare(config()), run_compare(config(), replicas=False)
    assert sizes == [(9, {"tune"}), (9, {"tune"}), (18, {"final"})]
    assert [(r.optimizer, r.phase, r.lr, r.seed) for r in together.runs] == \
        [(r.optimizer, r.phase, r.lr, r.seed) for r in alone.runs]
    # float32: batched products may round otherwise (tests/lab/test_batching.py's bound)
    for a, b in zip(together.runs, alone.runs, strict=True):
        assert a.final_loss == pytest.approx(b.final_loss, rel=1e-4, abs=1e-6)
        assert a.diverged == b.diverged


# -- the declared search space and ensembles ------------------------------------------------

SEARCH = ["--search", "lr,weight_decay,beta1,schedule"]


def test_search_space_is_drawn_saved_and_used_for_the_seeds(in_tmp):
    r = run("compare", *FAST, "--budget", "4", *SEARCH)
    assert r.exit_code == 0, r.output
    assert "search space (lr, weight_decay, beta1, schedule)" in r.stdout
    assert "sgd: lr log-uniform" in r.stdout and "not searched (absent or fixed): " \
        "weight_decay, beta1" in r.stdout
    cmp = Store("runs/antigrad.sqlite").load(1)
    assert cmp.config.search == ["lr", "weight_decay", "beta1", "schedule"]
    adam = [x for x in cmp.runs if x.optimizer == "adam" and x.phase == "tune"]
    assert all({"use_weight_decay", "one_minus_beta1", "schedule"} <= set(x.params)
               for x in adam)
    assert all(set(x.params) == {"schedule"} for x in cmp.runs
               if x.optimizer == "sgd" and x.phase == "tune")
    best = max(adam, key=lambda x: x.final_metric)
    assert all(x.params == best.params and x.lr == best.lr for x in cmp.final_runs("adam"))
    assert f"chosen: {tuning.chosen_text(cmp, 'adam')}" in r.stdout
    assert "schedule=" in tuning.chosen_text(cmp, "adam")


def test_drawn_hyperparameters_change_the_trial_s_optimizer(monkeypatch):
    built = []
    real = tuning.train_run

    def spy(problem, spec, lr, seed, **kw):
        built.append((kw.get("phase", "final"), dict(spec.kwargs), spec.schedule))
        return real(problem, spec, lr, seed, **kw)

    monkeypatch.setattr(tuning, "train_run", spy)
    cmp = run_compare(CompareConfig("breast-cancer", ["adam"], seeds=1, steps=10, budget=3,
                                    search=["lr", "beta1", "schedule"]))
    trials = [r for r in cmp.runs if r.phase == "tune"]
    for (phase, kwargs, schedule), trial in zip(built, trials, strict=False):
        assert phase == "tune"
        assert kwargs["beta1"] == pytest.approx(1 - trial.params["one_minus_beta1"])
        assert schedule.text == trial.params["schedule"]


def test_default_search_is_the_lr_alone_as_before():
    cmp = run_compare(CompareConfig("breast-cancer", ["adam"], seeds=1, steps=10, budget=2))
    assert cmp.config.search == ["lr"]
    assert all(r.params == {} for r in cmp.runs)


def test_ensemble_is_the_mean_of_the_members_outputs(in_tmp):
    from antigrad.lab import get_optimizer
    from antigrad.lab.runner import train_run
    from antigrad.train import Ensemble

    r = run("compare", *FAST, "--budget", "2", "--ensemble", "3")
    assert r.exit_code == 0, r.output
    assert "2 seed(s) x 3 models) = 16 runs" in " ".join(r.stderr.split())
    cmp = Store("runs/antigrad.sqlite").load(1)
    assert cmp.config.ensemble == 3
    for name in ("sgd", "adam"):
        finals, groups = cmp.final_runs(name), cmp.ensemble_runs(name)
        assert sorted(x.seed for x in finals) == sorted(
            s for g in (0, 1) for s in tuning.member_seeds(g, 3))
        assert [g.seed for g in groups] == [0, 1]
        # the same ensemble, built by hand from the same runs
        problem = get_training_problem("breast-cancer")
        tasks = []
        for seed in tuning.member_seeds(1, 3):
            train_run(problem, get_optimizer(name), cmp.chosen_lr[name], seed, steps=10,
                      on_done=tasks.append)
        model = Ensemble([t.model for t in tasks]).eval()
        assert groups[1].final_metric == pytest.approx(
            tasks[0].metric(model, tasks[0].x_test, tasks[0].y_test))
    assert "ensembles of 3 (the mean of the members' outputs) vs single models" in r.stdout
    assert "single models" in r.stdout and "over 6 run(s); ensembles" in r.stdout


def test_restarts_keep_the_member_with_the_lowest_final_training_loss(in_tmp):
    r = run("compare", *FAST, "--budget", "2", "--restarts", "3")
    assert r.exit_code == 0, r.output
    assert "2 seed(s) x 3 models) = 16 runs" in " ".join(r.stderr.split())
    cmp = Store("runs/antigrad.sqlite").load(1)
    assert (cmp.config.restarts, cmp.config.ensemble) == (3, 1)
    assert "best of 3 restarts (the member with the lowest final training loss) vs single " \
        "models" in r.stdout
    assert "ensembles" not in r.stdout  # not asked
    finals = {name: {x.seed: x for x in cmp.final_runs(name)} for name in ("sgd", "adam")}
    for name, by_seed in finals.items():
        best, first, on_test = [], [], []
        for group in (0, 1):
            members = [by_seed[s] for s in tuning.member_seeds(group, 3)]
            losses = [m.tail_loss() for m in members]
            best.append(members[losses.index(min(losses))].final_metric)
            first.append(members[0].final_metric)
            on_test.append(max(m.final_metric for m in members))
        assert [m.final_metric for m in tuning.best_members(cmp, name)] == best
        if name == "sgd":  # here the choice matters: neither the seed's run nor test's best
            assert best != first and best != on_test
        line = next(x for x in r.stdout.splitlines() if x.startswith(f"  {name}: single"))
        assert f"best of 3 {tuning._mean_std(best)} over 2 group(s)" in line
    r = run("export", "1", "--format", "json")  # settings and every member, for other tools
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["config"]["restarts"] == 3
    assert sum(x["phase"] == "final" for x in data["runs"]) == 12
    assert data["best_of_restarts"] == {
        name: [r.seed for r in tuning.best_members(cmp, name)] for name in ("sgd", "adam")}


def test_best_member_is_chosen_by_training_loss_never_by_test_metric():
    cmp = run_compare(CompareConfig("breast-cancer", ["sgd"], seeds=1, steps=10, budget=1,
                                    restarts=3))
    members = sorted(cmp.final_runs("sgd"), key=lambda x: x.seed)
    assert len(members) == 3
    # the lowest loss goes to the member with the worst test metric: a choice on test
    # (or of the group's first run) would differ
    worst = min(members, key=lambda x: x.final_metric)
    for k, member in enumerate(members):
        member.final_metric = 0.1 * (k + 1) if member is not worst else 0.01
        member.losses = [(10, 0.1 if member is worst else 1.0 + k)]
    assert tuning.best_members(cmp, "sgd") == [worst]
    assert "best of 3 0.0100 ± nan over 1 group(s)" in tuning.tuning_text(cmp)


def test_restarts_with_ensembles_score_the_same_groups_both_ways():
    cmp = run_compare(CompareConfig("breast-cancer", ["adam"], seeds=2, steps=10, budget=1,
                                    ensemble=2, restarts=2))
    assert len(cmp.final_runs("adam")) == 4 and len(cmp.ensemble_runs("adam")) == 2
    assert len(tuning.best_members(cmp, "adam")) == 2
    text = tuning.tuning_text(cmp)
    assert "ensembles of 2 (the mean of the members' outputs) and best of 2 restarts" in text
    assert "; ensembles " in text and "; best of 2 " in text


@pytest.mark.parametrize("group", ["ensemble", "restarts"])
@pytest.mark.parametrize("resume", ["run_compare", "run_remaining"])
def test_an_interrupted_ensemble_retrains_its_members_without_saving_them_twice(
        tmp_path, monkeypatch, resume, group):
    from antigrad.lab.worker import run_remaining

    config = CompareConfig("breast-cancer", ["sgd"], seeds=2, steps=10, budget=2,
                           **{group: 2})
    whole = run_compare(CompareConfig(**vars(config)))
    store = Store(tmp_path / "s.sqlite")
    cmp = new_comparison(config)
    with store.begin(cmp) as recording, pytest.raises(KeyboardInterrupt):
        run_compare(cmp, Interrupt(after=3), recording)  # 2 trials + group 0's first member
    calls = _counting_train_run(monkeypatch)
    again, recording = store.resume(cmp.id)
    with recording:
        (run_compare if resume == "run_compare" else run_remaining)(again, None, recording)
    assert calls == [("sgd", "final", s) for s in [*tuning.member_seeds(0, 2),
                                                   *tuning.member_seeds(1, 2)]]
    saved = store.load(cmp.id)
    key = [(r.phase, r.seed, r.lr, r.final_metric) for r in whole.runs]
    assert [(r.phase, r.seed, r.lr, r.final_metric) for r in saved.runs] == key
    chosen = [[(r.seed, r.final_metric) for r in tuning.best_members(c, "sgd")]
              for c in (saved, whole)]
    assert chosen[0] == chosen[1] and len(chosen[0]) == 2


@pytest.mark.parametrize("args, option", [
    (["--budget", "3", "--search", "lr,momentum"], "--search"),
    (["--budget", "3", "--search", "lr,lr"], "--search"),
    (["--budget", "3", "--search", ","], "--search"),
    (["--search", "lr,schedule"], "--search"),           # no budget
    (["--budget", "3", "--ensemble", "0"], "--ensemble"),
    (["--budget", "3", "--ensemble", "101"], "--ensemble"),
    (["--ensemble", "3"], "--ensemble"),                  # no budget
    (["--resume", "1", "--search", "lr,beta1"], "--resume"),
    (["--resume", "1", "--ensemble", "2"], "--resume"),
    (["--budget", "3", "--restarts", "0"], "--restarts"),
    (["--budget", "3", "--restarts", "101"], "--restarts"),
    (["--restarts", "3"], "--restarts"),                  # no budget
    (["--budget", "3", "--ensemble", "2", "--restarts", "3"], "--restarts"),
    (["--resume", "1", "--restarts", "2"], "--resume"),
])
def test_bad_search_or_ensemble_exits_2_before_any_work(in_tmp, args, option):
    r = run("compare", *FAST, *args) if "--resume" not in args else run("compare", *args)
    assert r.exit_code == 2 and option in r.output and "Traceback" not in r.output
    assert list(in_tmp.iterdir()) == []
