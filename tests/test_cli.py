"""The mir-fast command line, run as a real subprocess."""

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import dump_svmlight_file

from mir_fast import major_influence_range, poison_labels
from mir_fast.datasets import digits17, labelled_split

GAMMA = "3"


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mir_fast", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def data():
    X, y, _, _ = digits17(test_size=0)
    return X, labelled_split(y, 0.25)


@pytest.fixture(scope="module")
def files(data, tmp_path_factory):
    X, y = data
    folder = tmp_path_factory.mktemp("inputs")
    paths = {}
    paths["npz"] = folder / "digits.npz"
    np.savez(paths["npz"], X=X, y=y)
    paths["npy"] = folder / "X.npy"
    np.save(paths["npy"], X)
    np.save(folder / "y.npy", y)
    paths["sparse_npz"] = folder / "X_sparse.npz"
    sp.save_npz(paths["sparse_npz"], sp.csr_matrix(X))
    paths["csv"] = folder / "digits.csv"
    with open(paths["csv"], "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([f"p{i}" for i in range(X.shape[1])] + ["label"])
        for row, label in zip(X, y):
            writer.writerow([*row, "" if label == -1 else label])
    paths["svm"] = folder / "digits.svm"
    dump_svmlight_file(X, y, str(paths["svm"]))
    return paths


def extra_args(kind, files):
    if kind in ("npy", "sparse_npz"):
        return ["--labels", str(files["npy"].parent / "y.npy")]
    return []


@pytest.mark.parametrize("kind", ["npz", "npy", "sparse_npz", "csv", "svm"])
def test_score_every_format(data, files, kind):
    X, y = data
    out = run("score", str(files[kind]), "--gamma", GAMMA, *extra_args(kind, files))
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    result = major_influence_range(X, y, gamma=3.0)
    assert [int(r["index"]) for r in rows] == list(result.ranking())
    mir = dict(zip(result.labelled, result.scores))
    assert all(int(r["mir"]) == mir[int(r["index"])] for r in rows)
    assert "gamma=3" in out.stderr


@pytest.mark.parametrize("kind", ["npz", "csv", "svm"])
def test_attack_every_format(data, files, kind, tmp_path):
    X, y = data
    target = tmp_path / "attack.json"
    out = run("attack", str(files[kind]), "--gamma", GAMMA, "--budget", "0.1", "--out",
              str(target), *extra_args(kind, files))
    assert out.returncode == 0, out.stderr
    records = json.loads(target.read_text())
    expected, flipped = poison_labels(X, y, budget=0.1, gamma=3.0)
    assert sorted(r["index"] for r in records if r["flipped"]) == sorted(flipped)
    for record in records:
        assert float(record["poisoned_label"] or -1) == expected[record["index"]]


@pytest.mark.parametrize("kind", ["npz", "csv"])
def test_audit(data, files, kind):
    X, y = data
    out = run("audit", str(files[kind]), "--gamma", GAMMA, "--budget", "3",
              "--output-format", "json")
    assert out.returncode == 0, out.stderr
    records = json.loads(out.stdout)
    result = major_influence_range(X, y, gamma=3.0)
    assert [r["index"] for r in records] == list(result.ranking()[:3])
    for record in records:
        mine = result.unlabelled[result.counted & (result.dominant == record["index"])]
        assert record["dominated"] == mine.tolist() and len(mine) == record["mir"]


def test_labelled_fraction_and_auto_gamma(data, files):
    X, y = data
    full = np.where(y == -1, 0, y)  # pretend everything is labelled in the file
    X_all, y_all, _, _ = digits17(test_size=0)
    path = files["npz"].parent / "full.npz"
    np.savez(path, X=X_all, y=y_all)
    out = run("score", str(path), "--labelled-fraction", "0.25", "--seed", "2020")
    assert out.returncode == 0, out.stderr
    result = major_influence_range(X_all, labelled_split(y_all, 0.25, 2020), gamma="auto")
    assert [int(r["index"]) for r in csv.DictReader(io.StringIO(out.stdout))] == \
        list(result.ranking())
    assert full.shape == y.shape


@pytest.mark.parametrize(
    "make, args, message",
    [
        (None, ["score", "missing.csv"], "no such file: missing.csv"),
        ("bad.xyz", ["score"], "cannot tell the format"),
        ("X.npy", ["score"], "give the labels with --labels"),
        ("wrong.npz", ["score"], "must hold arrays 'X' and 'y'"),
        ("text.csv", ["score"], "is not a number"),
        ("ragged.csv", ["score"], "columns, expected"),
        ("one.csv", ["score"], "needs feature columns and a label column"),
        ("digits.csv", ["score", "--label-column", "nope"], "no column named 'nope'"),
        ("digits.csv", ["score", "--label-column", "99"], "no column 99"),
        ("shape.npz", ["score"], "rows but there are"),
        ("unlab.npz", ["score"], "every input is unlabelled"),
        ("garbage.svm", ["score"], "cannot read"),
        ("digits.npz", ["score", "--gamma", "-1"], "gamma must be a finite positive number"),
        ("digits.npz", ["attack", "--budget", "5000"], "exceeds"),
        ("digits.npz", ["score", "--labelled-fraction", "2"], "must be in (0, 1]"),
        ("multi.npz", ["attack", "--budget", "2"], "exactly two classes"),
        ("digits.npz", ["robustness"], "robustness needs the victims' RBF width"),
        ("digits.npz", ["robustness", "--gamma", "3", "--max-flips", "0"],
         "--max-flips must be at least 1"),
    ],
)
def test_errors_are_one_line_without_traceback(files, tmp_path, make, args, message):
    folder = tmp_path
    X = np.arange(40.0).reshape(10, 4)
    writers = {
        "bad.xyz": lambda p: p.write_text("1,2\n"),
        "X.npy": lambda p: np.save(p, X),
        "wrong.npz": lambda p: np.savez(p, A=X),
        "text.csv": lambda p: p.write_text("a,b,label\n1,2,0\n1,x,1\n"),
        "ragged.csv": lambda p: p.write_text("1,2,0\n1,1\n"),
        "one.csv": lambda p: p.write_text("1\n2\n"),
        "shape.npz": lambda p: np.savez(p, X=X, y=np.zeros(3)),
        "unlab.npz": lambda p: np.savez(p, X=X, y=-np.ones(10)),
        "garbage.svm": lambda p: p.write_text("this is not svmlight\n"),
        "multi.npz": lambda p: np.savez(p, X=X, y=np.array([0, 1, 2] + [-1] * 7)),
    }
    if make in writers:
        writers[make](folder / make)
        target = str(folder / make)
    elif make:
        target = str(files["csv" if make.endswith(".csv") else "npz"])
    command = [args[0]] + ([target] if make else []) + args[1:]
    out = run(*command, cwd=folder)
    assert out.returncode == 2, out.stdout
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_console_script_is_installed():
    import shutil
    import sysconfig

    # the environment that runs the tests, whether or not it is activated
    script = shutil.which("mir-fast", path=sysconfig.get_path("scripts"))
    assert script, f"no mir-fast console script in {sysconfig.get_path('scripts')}"
    out = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "score" in out.stdout and "audit" in out.stdout


def test_robustness_prints_the_certified_table_and_draws_the_figure(tmp_path):
    from mir_fast import flip_robustness

    X, y, _, _ = digits17(test_size=0)
    path = tmp_path / "full.npz"
    np.savez(path, X=X, y=y)
    figure = tmp_path / "curve.png"
    out = run("robustness", str(path), "--gamma", GAMMA, "--labelled-fraction", "0.1",
              "--max-flips", "4", "--plot", str(figure), "--max-iter", "8")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [(r["victim"], int(r["k"])) for r in rows] == \
        [(v, k) for v in ("propagation", "spreading") for k in range(1, 5)]
    split = labelled_split(y, 0.1, 2020)
    for victim in ("propagation", "spreading"):
        result = flip_robustness(X, split, victim=victim, gamma=3.0, max_flips=4,
                                 max_iter=8, y_true=y)
        for row in (r for r in rows if r["victim"] == victim):
            k = int(row["k"])
            assert int(row["radius_k"]) == (result.radius == k).sum()
            assert float(row["unchanged"]) == pytest.approx(result.certified_fraction(k),
                                                            abs=1e-6)
            assert float(row["accurate"]) == pytest.approx(result.certified_accuracy(k),
                                                           abs=1e-6)
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "radii exact for the clean fit" in out.stderr


def test_robustness_without_true_labels_reports_the_unchanged_share(files, tmp_path):
    out = run("robustness", str(files["npz"]), "--gamma", GAMMA, "--victim", "spreading",
              "--max-flips", "2", "--plot", str(tmp_path / "c.png"))
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["accurate"] for r in rows] == ["", ""] and len(rows) == 2


def test_example_data_writes_the_three_formats_the_readme_uses(tmp_path):
    out = run("example-data", str(tmp_path / "here"))
    assert out.returncode == 0, out.stderr
    X, y, _, _ = digits17(test_size=0)
    split = labelled_split(y, 0.25, 2020)
    saved = np.load(tmp_path / "here" / "data.npz")
    np.testing.assert_array_equal(saved["X"], X)
    np.testing.assert_array_equal(saved["y"], split)
    for name in ("data.npz", "data.csv", "data.svm"):
        scored = run("score", str(tmp_path / "here" / name), "--gamma", GAMMA, "--quiet")
        assert scored.returncode == 0, scored.stderr
        ranks = [int(r["index"]) for r in csv.DictReader(io.StringIO(scored.stdout))]
        assert ranks == list(major_influence_range(X, split, gamma=3.0).ranking())


def test_markdown_tables_and_the_audit_report_with_thumbnails(files, tmp_path):
    out = run("score", str(files["npz"]), "--gamma", GAMMA, "--out", str(tmp_path / "s.md"))
    assert out.returncode == 0, out.stderr
    lines = (tmp_path / "s.md").read_text().splitlines()
    assert lines[0].split() == ["|", "rank", "|", "index", "|", "label", "|", "mir", "|"]
    assert set(lines[1]) <= {"|", "-", " "} and len(lines) > 3
    for page in ("audit.md", "audit.html"):
        out = run("audit", str(files["npz"]), "--gamma", GAMMA, "--budget", "3", "--report",
                  str(tmp_path / page))
        assert out.returncode == 0, out.stderr
        text = (tmp_path / page).read_text()
        records = list(csv.DictReader(io.StringIO(out.stdout)))
        for record in records:
            assert f"input {record['index']} (label {record['label']}): MIR {record['mir']}" \
                in text
            thumbnail = tmp_path / "audit-images" / f"label-{record['index']}.png"
            assert thumbnail.read_bytes()[:4] == b"\x89PNG"
            assert f"audit-images/label-{record['index']}.png" in text
    assert (tmp_path / "audit.html").read_text().startswith("<!DOCTYPE html>")
    # CSR input is not an image: the page without thumbnails
    out = run("audit", str(files["svm"]), "--gamma", GAMMA, "--budget", "2", "--report",
              str(tmp_path / "plain.md"))
    assert out.returncode == 0 and "![" not in (tmp_path / "plain.md").read_text()


def test_robustness_reads_the_true_labels_an_npz_holds(tmp_path):
    from mir_fast import flip_robustness

    assert run("example-data", str(tmp_path), "--labelled", "0.1").returncode == 0
    out = run("robustness", str(tmp_path / "data.npz"), "--gamma", GAMMA, "--max-flips", "2",
              "--victim", "propagation", "--plot", str(tmp_path / "c.png"))
    assert out.returncode == 0, out.stderr
    X, y, _, _ = digits17(test_size=0)
    result = flip_robustness(X, labelled_split(y, 0.1, 2020), gamma=3.0, y_true=y,
                             max_flips=2)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [float(r["accurate"]) for r in rows] == pytest.approx(
        [result.certified_accuracy(k) for k in (1, 2)], abs=1e-6)
