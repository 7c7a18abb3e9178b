"""End-to-end: the real `fude` CLI on small real data (the shipped KMNIST sample)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, write_csv

TINY = ["--dataset", "kmnist-sample", "--epochs", "3", "--batch-size", "64", "--threads", "1", "--quiet"]


def fude(*args, check=True, **kw):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    p = subprocess.run([sys.executable, "-m", "fude", *map(str, args)], capture_output=True, text=True, env=env, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"fude {' '.join(map(str, args))} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def weights(run: Path) -> dict:
    from safetensors.numpy import load_file

    return load_file(run / "model.safetensors")


@pytest.mark.slow
def test_train_evaluate_predict(tmp_path):
    run = tmp_path / "run"
    fude("train", *TINY, "--out", run, "--seed", "1", "--warmup", "0.3", "--model-config", '{"space_to_depth": true}')
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["warmup"] == 0.3 and config["model"]["space_to_depth"] is True
    assert config["command"].startswith("fude train --dataset kmnist-sample")
    assert config["class_map"][0] == {"index": 0, "codepoint": "U+304A", "char": "お"}
    assert config["train"]["seed"] == 1 and config["preprocess"]["box"] == 28
    assert config["data"]["name"] == "kmnist-sample" and config["fude_version"]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3] and all(r["batch_loss"] for r in rows)
    assert rows[-1]["val_accuracy"] > 0.65  # 0.81-0.83 measured after these 3 short epochs; chance is 0.1

    ev = json.loads(fude("evaluate", "--model", run, "--dataset", "kmnist-sample", "--json").stdout)
    assert ev["n"] == 300 and 0.65 < ev["accuracy"] <= 1 and len(ev["per_class"]) == 10
    assert ev["per_class"][0]["char"] == "お" and "balanced_accuracy" in ev
    cm = (run / "eval-kmnist-sample-test" / "confusion_matrix.csv").read_text().splitlines()
    assert cm[0].split(",")[1:] == list("おきすつなはまやれを") and len(cm) == 11
    assert sum(int(v) for line in cm[1:] for v in line.split(",")[1:]) == 300

    again = fude("train", *TINY, "--out", run, check=False)  # a finished run is never overwritten by accident
    assert again.returncode == 1 and "already holds a run" in again.stderr
    assert json.loads((run / "config.json").read_text()) == config

    out = fude("predict", "--model", run, "--json", REPO / "examples/kmnist-お.png", tmp_path / "nope.png",
               check=False)
    assert out.returncode == 1  # one file failed, the other answered
    answers = json.loads(out.stdout)
    assert answers[0]["file"].endswith("kmnist-お.png") and len(answers[0]["top"]) == 5
    assert "error" in answers[1] and "nope.png" in out.stderr


@pytest.mark.slow
def test_interrupt_and_resume_matches_uninterrupted_run(tmp_path):
    # with a moving average of the weights: the resumed run must restore it too
    args = ["train", *TINY, "--epochs", "4", "--seed", "3", "--ema", "0.9"]
    fude(*args, "--out", tmp_path / "whole")

    run = tmp_path / "cut"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # SIGINT as a terminal sends it: a suite started in the background (`cmd &`) hands its children
    # an ignored SIGINT, and Python then never turns it into KeyboardInterrupt
    p = subprocess.Popen([sys.executable, "-m", "fude", *map(str, args), "--out", str(run)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not (run / "checkpoint.safetensors").exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    from fude.train.run import epochs_done

    done = epochs_done(run)
    assert 1 <= done < 4 and f"fude train --resume {run}" in err
    assert not (run / "model.safetensors").exists()

    out = fude("train", "--resume", run, "--threads", "1", "--quiet")
    assert f"resuming {run} after epoch {done}/4" in out.stdout
    a, b = weights(tmp_path / "whole"), weights(run)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    epochs = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3, 4]


def test_bad_input_gets_a_clear_error(tmp_path):
    p = fude("train", "--dataset", "emnist", check=False)
    assert p.returncode == 1 and "unknown dataset 'emnist'" in p.stderr and "Traceback" not in p.stderr
    p = fude("evaluate", "--model", tmp_path / "nothing", "--dataset", "kmnist-sample", check=False)
    assert p.returncode == 1 and "no model" in p.stderr and "Traceback" not in p.stderr
    p = fude("evaluate", "--model", "mnist", "--dataset", "kmnist-sample", check=False)
    assert p.returncode == 1 and "differ from the dataset" in p.stderr
    p = fude("train", "--resume", tmp_path, check=False)
    assert p.returncode == 1 and "cannot resume" in p.stderr


@pytest.mark.parametrize("model", ["mnist", "kmnist"])
def test_predict_with_shipped_model(model):
    """The examples read right. mnist-7.png is an MNIST test image (unseen in training); kmnist-や.png
    is a KMNIST dev image, which the shipped kmnist was trained on: for it this is a memory check."""
    file = REPO / "examples" / ("mnist-7.png" if model == "mnist" else "kmnist-や.png")
    out = json.loads(fude("predict", "--model", model, "--json", file).stdout)
    assert out[0]["top"][0]["char"] == ("7" if model == "mnist" else "や")


@pytest.mark.slow
def test_kaggle_csv_train_predict_submission(tmp_path, mnist_test):
    """The Kaggle workflow: train.csv (labelled) -> fude train -> test.csv (unlabelled) -> submission."""
    x, y = mnist_test.images, mnist_test.labels
    write_csv(tmp_path / "train.csv", x[:1000], y[:1000])
    write_csv(tmp_path / "test.csv", x[1000:1200])
    run = tmp_path / "run"
    fude("train", "--csv", tmp_path / "train.csv", "--val-split", "0.2", "--seed", "5", "--epochs", "4",
         "--batch-size", "64", "--threads", "1", "--quiet", "--out", run)
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["name"] == "csv" and config["class_map"][3]["char"] == "3"
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["val_accuracy"] > 0.7

    fude("predict", "--model", run, "--csv", tmp_path / "test.csv", "--submission", tmp_path / "submission.csv")
    lines = (tmp_path / "submission.csv").read_text().splitlines()
    assert lines[0] == "ImageId,Label" and len(lines) == 201
    ids, labels = np.array([[int(v) for v in line.split(",")] for line in lines[1:]]).T
    assert np.array_equal(ids, np.arange(1, 201)) and set(labels) <= set(range(10))
    assert (labels == y[1000:1200]).mean() > 0.7  # real predictions, in the order of the CSV rows

    np.savez(tmp_path / "test-imgs.npz", arr_0=x[1000:1200])  # the same from the official npz layout
    fude("predict", "--model", run, "--images", tmp_path / "test-imgs.npz", "--submission", tmp_path / "npz.csv")
    assert (tmp_path / "npz.csv").read_text() == (tmp_path / "submission.csv").read_text()

    p = fude("predict", "--model", run, "--csv", tmp_path / "test.csv", REPO / "examples/mnist-7.png", check=False)
    assert p.returncode == 1 and "either image files or one data source" in p.stderr


@pytest.mark.slow
def test_summary_counts_every_parameter(tmp_path):
    import fude as api
    from fude.summary import model_summary

    out = json.loads(fude("summary", "--model", "kmnist", "--json").stdout)
    net = api.load_model("kmnist").net
    assert out["total_params"] == sum(p.numel() for p in net.parameters()) == sum(r["params"] for r in out["layers"])
    assert out["layers"][-1]["output_shape"] == [None, 10] and out["forward_flops"] > 0
    text = fude("summary", "--arch", "keras-cnn", "--classes", "49").stdout
    assert "Conv2d" in text and "(N, 49)" in text and "total parameters: 1," in text  # 1.2 M, as in Keras

    for p in net.blocks[0].parameters():  # frozen layers, as in fine-tuning, count as non-trainable
        p.requires_grad = False
    s = model_summary(net)
    assert s["non_trainable_params"] == sum(p.numel() for p in net.blocks[0].parameters()) > 0
    assert s["trainable_params"] + s["non_trainable_params"] == s["total_params"]

    from fude.models import create_model
    from fude.summary import format_summary

    lines = format_summary(model_summary(create_model("fude-cnn", space_to_depth=True))).splitlines()
    end = lines[0].index("params") + len("params")  # the columns fit their longest cell (PixelUnshuffle)
    rows = lines[2:lines.index(lines[1], 2)]
    assert len(rows) == 14 and all(r[end - 1].isdigit() and r[end] == " " for r in rows), "\n".join(lines)
    assert rows[0].split() == ["blocks.0.0", "PixelUnshuffle", "(N,", "4,", "14,", "14)", "0"]


@pytest.mark.slow
def test_analysis_commands(tmp_path):
    """fude cv (a baseline, over train+test combined), evaluate --save-predictions, plot and report."""
    cv = json.loads(fude("cv", "--model", "knn", "--dataset", "kmnist-sample", "--split", "train+test", "--folds", "3",
                         "--out", tmp_path / "cv", "--json").stdout)
    assert len(cv["folds"]) == 3 and 0.6 < cv["mean"] < 1 and cv["method"] == "knn"
    assert json.loads((tmp_path / "cv" / "cv.json").read_text()) == cv

    fude("evaluate", "--model", "kmnist", "--dataset", "kmnist-sample", "--save-predictions", tmp_path / "pred",
         "--top-k", "3")
    rows = (tmp_path / "pred.csv").read_text().splitlines()
    assert rows[0].startswith("image,true,true_char,pred,pred_char,correct,top1_char,top1_probability")
    probs = np.load(tmp_path / "pred.npy")
    assert probs.shape == (300, 10) and np.allclose(probs.sum(1), 1, atol=1e-5)
    first = rows[1].split(",")
    assert first[4] == "おきすつなはまやれを"[probs[0].argmax()] and float(first[7]) == pytest.approx(probs[0].max(), abs=1e-6)

    fude("plot", "confusion-normalised", "--model", "kmnist", "--dataset", "kmnist-sample", "--out", tmp_path / "cm.png")
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"
    out = fude("report", "--model", "kmnist", "--dataset", "kmnist-sample", "--umap-points", "0",
               "--out", tmp_path / "report")
    assert "report written to" in out.stdout and (tmp_path / "report" / "misclassified.png").exists()
    assert (tmp_path / "report" / "learning_curves.png").exists()  # the shipped kmnist model's metrics.jsonl
    p = fude("plot", "curves", "--model", "mnist", check=False)  # shipped without its metrics.jsonl
    assert p.returncode == 1 and "learning curves need a run folder" in p.stderr


@pytest.mark.slow
def test_torchrun_two_processes_on_cpu(tmp_path):
    """`torchrun -m fude train`: 2 processes (gloo), each a half of every batch; rank 0 writes the run."""
    run = tmp_path / "ddp"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                        "-m", "fude", "train", "--dataset", "kmnist-sample", "--epochs", "3", "--batch-size", "64",
                        "--quiet", "--out", str(run)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, f"exit {p.returncode}\nstdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-3000:]}"
    assert p.stdout.count("run folder:") == 1 and "2 processes (32 images each per step)" in p.stdout, p.stdout
    config = json.loads((run / "config.json").read_text())
    cores = len(os.sched_getaffinity(0))
    # the free cores shared out, never oversubscribed
    assert config["processes"] == 2 and 1 <= config["threads"] <= max(1, cores // 2), (config, cores)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3] and rows[-1]["val_accuracy"] > 0.65, rows
    ev = json.loads(fude("evaluate", "--model", run, "--dataset", "kmnist-sample", "--json").stdout)
    assert ev["accuracy"] > 0.65  # as one process trains it: the halves of each batch add up to the whole


@pytest.mark.slow
def test_test_split_scores_the_saved_model_without_scikit_learn(tmp_path):
    """`fude train --test-split` scores the finished model in the same process — the same accuracy
    `fude evaluate` gives the saved model — and without importing scikit-learn (0.8 s of a
    5-second run on a 2-core machine: bench/speed/mnist_speed.py)."""
    run = tmp_path / "run"
    code = ("import sys; from fude.cli import main; from fude.cli.args import _AHEAD; code = main(sys.argv[1:]); "
            "print('sklearn loaded:', 'sklearn' in sys.modules, 'read ahead, not taken:', len(_AHEAD), "
            "file=sys.stderr); sys.exit(code)")
    p = subprocess.run([sys.executable, "-c", code, "train", *TINY, "--seed", "2", "--val-split", "0",
                        "--test-split", "test", "--json", "--out", str(run)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "sklearn loaded: False read ahead, not taken: 0" in p.stderr  # both splits were read ahead and used
    test = json.loads(p.stdout)["test"]
    assert test["split"] == "test" and test["n"] == 300 and test["overlaps_training_data"] is False
    ev = json.loads(fude("evaluate", "--model", run, "--dataset", "kmnist-sample", "--split", "test", "--json").stdout)
    assert test["accuracy"] == ev["accuracy"] and test["balanced_accuracy"] == ev["balanced_accuracy"]
    assert 0.3 < test["accuracy"] < 1  # learnt something, and a real score rather than a copy of training's

    # a split that cannot be scored is refused before any training, and leaves no run folder
    for extra, message in ((["--test-split", "tset"], "has no split 'tset'; splits: train, test"),
                           (["--test-split", "test", "--folds", "2"], "one per fold"),
                           (["--images", REPO / "src/fude/resources/kmnist-sample-test-imgs.npz", "--labels",
                             REPO / "src/fude/resources/kmnist-sample-test-labels.npz", "--test-split", "test"],
                            "this run reads --images")):
        bad = fude("train", *TINY, *extra, "--out", tmp_path / "bad", check=False)
        assert bad.returncode == 1 and message in bad.stderr and not (tmp_path / "bad").exists()


def test_train_reads_its_data_while_pytorch_loads(tmp_path, mirror, capsys):
    """`fude train --dataset NAME` starts reading its splits on a thread before PyTorch is imported;
    load_data takes them, the same data as a plain read. A read that failed (a file not there yet)
    is done again by load_data; other commands, other sources and options the small parser cannot
    read start nothing and print nothing."""
    code = ("import sys; from fude.cli.args import prefetch, _AHEAD; "
            "prefetch(['train', '--dataset', 'mnist', '--test-split', 'test']); "
            "print(sorted(_AHEAD), [_AHEAD[k].result()._stats is not None for k in sorted(_AHEAD)], "
            "'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "FUDE_DATA_DIR": str(mirror)}).stdout
    # both splits read, the training split's pixel statistics computed too, and all without PyTorch
    assert out.strip() == "[('mnist', 'test', None), ('mnist', 'train', None)] [False, True] False"

    from fude.cli import args
    from fude.datasets import load_dataset

    args.prefetch(["train", "--dataset", "mnist", "--split", "test", "--data-dir", str(mirror)])
    ahead = args._AHEAD[("mnist", "test", str(mirror))].result()
    data = args.load_data({"dataset": "mnist", "split": "test", "data_dir": str(mirror)}, "train")
    assert data is ahead and not args._AHEAD
    plain = load_dataset("mnist", "test", mirror)
    assert (data.images == plain.images).all() and (data.labels == plain.labels).all()

    empty = tmp_path / "data"
    args.prefetch(["train", "--dataset", "mnist", "--split", "test", "--data-dir", str(empty)])
    assert args._AHEAD[("mnist", "test", str(empty))].exception() is not None  # nothing there yet
    (empty / "mnist").mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (empty / "mnist" / name).write_bytes((mirror / "mnist" / name).read_bytes())
    again = args.load_data({"dataset": "mnist", "split": "test", "data_dir": str(empty), "no_download": True}, "train")
    assert (again.labels == plain.labels).all()

    for argv in (["evaluate", "--dataset", "mnist"], ["train", "--resume", "runs/x", "--dataset", "mnist"],
                 ["train", "--images", "x.npz", "--dataset", "mnist"], ["train", "--dataset"], [],
                 ["train", "--dataset", "mnist", "--split"]):
        args.prefetch(argv)
        assert not args._AHEAD, argv
    assert capsys.readouterr() == ("", "")


LEAVE = """
import atexit, sys, threading, time
from fude.cli import leave

class Last:
    def __del__(self):
        print("teardown ran", file=sys.stderr)

keep = Last()  # freed only when the interpreter takes the modules apart
atexit.register(lambda: print("atexit ran", file=sys.stderr))
threading.Thread(target=lambda: (time.sleep(0.3), print("thread done", file=sys.stderr))).start()
sys.stdout.write("x" * 200_000)  # more than a pipe's buffer: still in Python's when leave() is called
code = {"none": None, "message": "a message"}.get(sys.argv[2], sys.argv[2])
(sys.exit if sys.argv[1] == "sys.exit" else leave)(int(code) if code and code.isdigit() else code)
"""


def test_the_command_exits_as_python_does_less_the_teardown():
    """fude.cli.leave ends the process as sys.exit would — the threads finish, atexit functions
    run, all that was written reaches the pipe, the status and sys.exit's message rule hold — but
    the interpreter does not take its modules apart (a tenth of a second and more once PyTorch is
    loaded: bench/speed/mnist_speed.py); sys.exit, run the same way, does."""
    def run(how, code):
        return subprocess.run([sys.executable, "-c", LEAVE, how, code], capture_output=True, text=True)

    for how in ("leave", "sys.exit"):
        p = run(how, "3")
        assert p.returncode == 3 and p.stdout == "x" * 200_000
        assert p.stderr.splitlines()[:2] == ["thread done", "atexit ran"]
        assert ("teardown ran" in p.stderr) == (how == "sys.exit")
    assert run("leave", "none").returncode == 0
    p = run("leave", "message")
    assert p.returncode == 1 and p.stderr.startswith("a message\n")
    assert fude("--version").stdout.startswith("fude ")
    usage = fude("no-such-command", check=False)
    assert usage.returncode == 2 and "invalid choice" in usage.stderr


def test_each_command_parses_as_with_the_whole_parser(capsys):
    """`fude CMD` builds only CMD's options; every command's help, and the list of commands, read as
    with the whole parser (each module's COMMANDS names what its register() adds, in order)."""
    from fude.cli import COMMAND_MODULES, build_parser

    def help_text(parser, argv):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)
        return capsys.readouterr().out

    whole = build_parser()
    names = [name for module in COMMAND_MODULES for name in module.COMMANDS]
    assert help_text(build_parser(""), ["--help"]) == help_text(whole, ["--help"])
    assert " ".join(names) in help_text(whole, ["--help"]).replace(",", " ")
    for name in names:
        assert help_text(build_parser(name), [name, "--help"]) == help_text(whole, [name, "--help"]), name
    args = build_parser("predict").parse_args(["predict", "a.png", "--top-k", "3"])
    assert args.func.__name__ == "cmd_predict" and args.top_k == 3 and args.files == ["a.png"]


def test_version_help_and_a_mistyped_command_answer_without_pytorch():
    code = ("import sys, fude.cli\n"
            "for argv in (['--version'], ['--help'], ['trian'], []):\n"
            "    try:\n"
            "        fude.cli.main(argv)\n"
            "    except SystemExit:\n"
            "        pass\n"
            "print('torch' in sys.modules, file=sys.stderr)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.stderr.splitlines()[-1] == "False", p.stderr
    assert p.stdout.startswith("fude ") and "predict-strokes" in p.stdout and "invalid choice: 'trian'" in p.stderr


def _train_config(*argv):
    from fude.cli import build_parser
    from fude.cli.train import config_from_args

    argv = ["train", "--dataset", "mnist", *map(str, argv)]
    args = build_parser("train").parse_args(argv)
    args.argv = argv  # as fude.cli.main sets it
    return config_from_args(args)


def test_a_named_recipe_is_the_benchmarked_one_and_the_flags_given_win():
    """`--recipe fast` is the flags bench/speed/mnist_speed.py times (bench/common.py FAST_RECIPE), and
    TrainConfig.from_recipe; a flag given wins however it is spelt; --model-config adds to the
    recipe's network; --elastic adds elastic distortion to the recipe's --no-augment."""
    from fude.train import TrainConfig

    sys.path.insert(0, str(REPO / "bench"))
    try:
        from common import FAST_RECIPE
    finally:
        sys.path.remove(str(REPO / "bench"))
    fast = _train_config("--recipe", "fast")
    assert fast == _train_config(*FAST_RECIPE) == TrainConfig.from_recipe("fast")
    assert fast != TrainConfig() and fast.epochs == 1 and fast.model_config["crop"] == 2
    mine = _train_config("--lr=0.3", "--recipe", "fast", "--label-smooth", "0.1", "--epochs", "1", "--elastic", "10",
                         "--model-config", '{"widths": [16, 32, 64]}')
    assert (mine.lr, mine.label_smoothing, mine.epochs, mine.val_split, mine.warmup) == (0.3, 0.1, 1, 0, 0.5)
    assert mine.model_config == {**fast.model_config, "widths": [16, 32, 64]}
    assert mine.augment == {**fast.augment, "elastic": 10.0}
    assert _train_config("--no-augment", "--elastic", "34").augment["elastic"] == 34  # it used to be dropped
    with pytest.raises(ValueError, match=r"give a val_split above 0.* \(--recipe fast stands for --epochs 1 "):
        _train_config("--recipe", "fast", "--early-stopping", "3")
    with pytest.raises(ValueError, match="unknown recipe 'quick'; known: fast"):
        TrainConfig.from_recipe("quick")
    bad = fude("finetune", "--from", "mnist", "--dataset", "mnist", "--recipe", "fast", check=False)
    assert bad.returncode == 2 and "unrecognized arguments: --recipe fast" in bad.stderr


@pytest.mark.slow
def test_the_fast_recipe_reaches_99_percent_on_mnist(tmp_path):
    """The README's quickest route, from the raw MNIST files to the official test set in one
    command (the mirror's gzipped IDX files; seeds 0-31 gave 99.05-99.25% here)."""
    p = fude("train", "--dataset", "mnist", "--recipe", "fast", "--test-split", "test", "--json", "--quiet",
             "--out", tmp_path / "run")
    result = json.loads(p.stdout)
    assert result["test"]["n"] == 10_000 and result["test"]["accuracy"] >= 0.99, result["test"]


def test_evaluate_answers_without_scikit_learn():
    """`fude evaluate`'s per-class report and confusion matrix are counted with NumPy: scikit-learn's
    import alone was most of a second of the command (README "Benchmarks")."""
    code = ("import sys; from fude.cli import main; code = main(sys.argv[1:]); "
            "print('sklearn loaded:', 'sklearn' in sys.modules, file=sys.stderr); sys.exit(code)")
    p = subprocess.run([sys.executable, "-c", code, "evaluate", "--model", "kmnist", "--dataset", "kmnist-sample",
                        "--split", "test"], capture_output=True, text=True)
    assert p.returncode == 0 and "sklearn loaded: False" in p.stderr, p.stderr
    assert "balanced accuracy" in p.stdout and " お    U+304A " in p.stdout  # the per-class report, with characters


@pytest.mark.slow
def test_the_readmes_python_example_runs_as_written(tmp_path):
    """The README's "From Python" block, run as one script in an empty folder with the data mirror:
    every line works as written (training the fast recipe included)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("From Python:", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert "load_dataset" in block and "predict_strokes" in block
    script = tmp_path / "example.py"
    script.write_text(block + "\nprint('done')\n", encoding="utf-8")
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert p.returncode == 0 and p.stdout.strip().endswith("done"), p.stderr[-2000:]
    assert (tmp_path / "runs" / "mnist-fast" / "model.safetensors").exists()


def test_each_shipped_model_is_what_its_recipe_file_trains():
    """The recipe files are the shipped models' recipes: the TrainConfig each recipe's training
    step describes is the one recorded in the shipped model's config.json (ja's two steps: ja and
    ja-seq), and its configure step writes ja's reading settings."""
    from dataclasses import asdict

    from fude.cli import build_parser
    from fude.cli.train import config_from_args
    from fude.models.store import resolve_model_dir
    from fude.datasets.augment import AugmentConfig
    from fude.recipes import load_recipe, shipped_names
    from fude.train import TrainConfig

    assert {"fast", "mnist", "kmnist", "hiragana", "hiragana-seq", "ja"} <= set(shipped_names())
    trained = {"mnist": ["mnist"], "kmnist": ["kmnist"], "hiragana": ["hiragana"], "hiragana-seq": ["hiragana-seq"],
               "ja": ["ja", "ja-seq"]}
    for recipe, models in trained.items():
        steps = [s for s in load_recipe(recipe).commands() if s[0] == "train"]
        assert len(steps) == len(models), recipe
        for step, model in zip(steps, models):
            shipped = json.loads((resolve_model_dir(model) / "config.json").read_text())
            args = build_parser("train").parse_args(step)
            args.argv = step[1:]
            # augmentation fields added since (elastic: 0, off) take their defaults, as training reads them
            then = {**shipped["train"], "augment": {**asdict(AugmentConfig()), **shipped["train"]["augment"]}}
            assert asdict(config_from_args(args)) == asdict(TrainConfig.from_dict(then)), (recipe, model)
    from fude.cli.read import configure_settings
    from fude.recognizer import RecognizerConfig

    configure = next(s for s in load_recipe("ja").commands() if s[0] == "configure")
    settings = json.loads((resolve_model_dir("ja") / "config.json").read_text())["recognizer"]
    written = configure_settings(RecognizerConfig(box=settings["box"]), build_parser("configure").parse_args(configure))
    # the run names its companion by its folder, tools/ship_model.py by its shipped name
    assert {**written.to_dict(), "companion": "ja-seq"} == settings


def test_fude_recipe_runs_a_recipe_file_and_its_runs_record_it(tmp_path):
    """`fude recipe FILE` runs its steps in order with the vars filled in; the run it trains records
    the recipe's name and sha256; --show prints the commands; a broken file gets one line."""
    import hashlib

    recipe = tmp_path / "tiny.json"
    recipe.write_text(json.dumps({"about": "a tiny run", "vars": {"out": "runs/x", "epochs": "1"}, "steps": [
        ["train", "--dataset", "kmnist-sample", "--epochs", "{epochs}", "--batch-size", "64", "--threads", "1",
         "--quiet", "--out", "{out}"],
        ["evaluate", "--model", "{out}", "--dataset", "kmnist-sample", "--json"]]}))
    out = tmp_path / "run"
    shown = fude("recipe", recipe, "--set", f"out={out}", "--show").stdout
    assert "1. fude train --dataset kmnist-sample --epochs 1" in shown and f"2. fude evaluate --model {out}" in shown
    p = fude("recipe", recipe, "--set", f"out={out}")
    assert p.returncode == 0
    record = {"name": "tiny", "sha256": hashlib.sha256(recipe.read_bytes()).hexdigest()}
    assert json.loads((out / "config.json").read_text())["recipe"] == record
    assert json.loads((out / "run.json").read_text())["recipe"] == record
    assert json.loads((out / "config.json").read_text())["train"]["epochs"] == 1
    for bad, words in (("{", "not valid JSON"), ('{"steps": "train"}', "steps must be a list"),
                       ('{"stepz": []}', "unknown keys")):
        recipe.write_text(bad)
        p = fude("recipe", recipe, check=False)
        assert p.returncode == 1 and words in p.stderr and "Traceback" not in p.stderr, p.stderr
    p = fude("recipe", "nope", check=False)
    assert p.returncode == 1 and "unknown recipe 'nope'; known: fast" in p.stderr
    p = fude("recipe", "mnist", "--set", "outt=x", check=False)
    assert p.returncode == 1 and "has no var outt" in p.stderr
