"""The package's shape: data flows one way through the modules (README "Development",
docs/architecture.md), the README stays a front door, and the benchmark figures of the README and
docs/ are the ones the benchmarks wrote."""

import ast
import subprocess
import sys

from conftest import REPO

SRC = REPO / "src" / "fude"
# the pipeline, upstream first: a module may import from its own layer or any layer above it
LAYERS = [
    ("fude.files", "fude.errors", "fude.cores", "fude.runtime", "fude.scripts", "fude.classmap", "fude.recipes", "fude.resources",
     "fude.pretrained"),
    ("fude.datasets",),
    ("fude.strokes",),
    ("fude.models",),
    ("fude.recognizer",),
    ("fude.evaluate",),
    ("fude.train",),
    ("fude.baselines", "fude.plots", "fude.report", "fude.summary", "fude.export"),
    ("fude.serve",),
    ("fude.cli", "fude.__main__"),
]


def _layer(module: str) -> int | None:
    for i, names in enumerate(LAYERS):
        if any(module == n or module.startswith(n + ".") for n in names):
            return i
    return None  # the package itself (fude: __version__ and the public names)


def _imports() -> dict[str, set[str]]:
    """Every fude module -> the fude modules it imports, at the top or inside a function."""
    found = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fude"):
                targets.add(node.module)
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("fude")}
        found[module] = targets
    return found


def _stated_order(text: str) -> list[tuple[str, ...]]:
    """The pipeline order as a text states it: the sentence of backticked names joined by arrows."""
    import re

    sentence = re.search(r"data flowing one way: (.*?)\(", text, re.S).group(1)
    return [frozenset(f"fude.{m}" for m in re.findall(r"`(\w+)`", step)) for step in sentence.split("→")]


def test_the_pipeline_order_is_stated_once():
    """The package docstring and the README state the order this test holds the imports to (the
    data packages `resources` and `pretrained` aside)."""
    import fude

    layers = [frozenset(names) - {"fude.resources", "fude.pretrained", "fude.__main__"} for names in LAYERS]
    assert _stated_order(fude.__doc__) == layers
    assert _stated_order((REPO / "README.md").read_text(encoding="utf-8")) == layers


def test_every_module_has_a_layer_and_data_flows_one_way():
    imports = _imports()
    assert all(_layer(m) is not None for m in imports if m != "fude"), [m for m in imports if _layer(m) is None]
    upstream = [(m, t) for m, targets in imports.items() for t in targets
                if _layer(m) is not None and _layer(t) is not None and _layer(t) > _layer(m)]
    assert upstream == [], f"modules importing from further down the pipeline: {upstream}"
    assert "fude.recognizer" in imports and "fude.models.base" in imports  # the walk saw the package


def test_readme_benchmark_figures_are_the_results_files():
    """Every ``<!-- bench: NAME -->`` block of the README and docs/ is what bench/readme.py writes from
    bench/results/NAME.json, and every such file exists."""
    out = subprocess.run([sys.executable, str(REPO / "bench" / "readme.py"), "--check"], capture_output=True,
                         text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert (REPO / "docs" / "benchmarks.md").read_text(encoding="utf-8").count("<!-- bench: ") >= 10


def test_the_readme_is_a_front_door():
    """The README stays short (what fude is, set-up, usage, links); the long material lives in docs/,
    and every docs/ page it links to exists."""
    import re

    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 400
    links = re.findall(r"\]\((docs/[^)#]+)", text)
    assert {"docs/benchmarks.md", "docs/models.md", "docs/strokes.md"} <= set(links)
    assert all((REPO / link).exists() for link in links), links


def test_the_command_line_starts_without_the_heavy_libraries():
    """Every `fude` command builds its parser first: even the whole one must not pull in matplotlib (plots),
    scikit-learn, SciPy or torch._dynamo, each a second or more of start-up on a small CPU, which the
    quickest training runs cannot spare."""
    code = ("import sys, fude.cli; fude.cli.build_parser(); "
            "print(' '.join(m for m in ('matplotlib', 'sklearn', 'scipy', 'torch._dynamo', 'fastapi', 'umap') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_import_fude_is_light_and_every_public_name_resolves():
    """`import fude` loads no PyTorch (the names load on first use), so `fude train` can read its
    data while PyTorch loads; every public name and sub-package still resolves."""
    code = ("import sys, fude; light = 'torch' not in sys.modules; "
            "names = [getattr(fude, n) for n in fude.__all__] + [fude.models, fude.train.TrainConfig]; "
            "print(light, 'torch' in sys.modules, all(n is not None for n in names))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True", "True"]
    code = "import fude; print([hasattr(fude, n) for n in ('__main__', 'a.b', 'models')]); fude.nothing_here"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.stdout.strip() == "[False, False, True]"  # fude.__main__ would run the command
    assert "module 'fude' has no attribute 'nothing_here'" in p.stderr


def test_bench_is_a_suite_of_folders_run_by_one_runner():
    """Every benchmark script sits in a folder by purpose, and bench/run.py's suite of that folder
    runs it: none is run by no runner, none is listed that does not exist."""
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import run
    finally:
        sys.path.remove(str(REPO / "bench"))
    scripts = {(p.parent.name, p.stem) for p in (REPO / "bench").glob("*/*.py")}
    listed = {(suite, script) for suite, runs in run.SUITES.items() for script, *_ in runs}
    assert set(run.SUITES) == {"speed", "serving", "robustness", "accuracy", "experiments"}
    assert scripts == listed, (scripts - listed, listed - scripts)
    assert sorted(p.name for p in (REPO / "bench").glob("*.py")) == ["common.py", "readme.py", "run.py"]


def test_bench_and_tests_use_only_public_names():
    """bench/ and tests/ reach fude through its public names: no attribute of a fude module, and no
    name imported from one, that starts with an underscore."""
    import re

    private = re.compile(r"\bfude(?:\.\w+)*\._[a-z]\w*|from fude(?:\.\w+)* import [^\n]*\b_[a-z]\w*")
    found = [f"{p.relative_to(REPO)}: {m.group(0)}" for folder in ("bench", "tests") for p in (REPO / folder).rglob("*.py")
             for m in private.finditer(p.read_text(encoding="utf-8"))]
    assert not found, found


def test_no_module_is_over_450_lines():
    """Each module stays one readable unit: a longer one is split by what it does."""
    long = {str(p.relative_to(REPO)): n for p in (REPO / "src" / "fude").rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 450}
    assert not long, long
