"""``pip install .`` (a wheel, not an editable install) gives a library that finds its own data:
the files of data/ travel inside the wheel as embedlab/datasets/."""

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("source")  # a copy: building in the tree would leave build/ there
    for name in ("pyproject.toml", "README.md", "lib", "data"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__", "*.egg-info")}
                                            if copy is shutil.copytree else {}))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", str(source), "-w", str(out)], check=True, capture_output=True)
    return next(out.glob("embedlab-*.whl"))


def test_the_wheel_carries_every_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in (ROOT / "data").rglob("*"):
        if path.is_file():
            assert f"embedlab/datasets/{path.relative_to(ROOT / 'data').as_posix()}" in names, path
    assert "embedlab/rag/__main__.py" in names


def test_an_installed_wheel_loads_each_curated_data_set(wheel, tmp_path):
    """Installed into a folder of its own, and run with the third-party packages of this
    environment but without its editable embedlab (``python -S`` reads no .pth file), the
    library reads every data set the repository's data/ holds from inside the package."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
                    "--target", str(target), str(wheel)], check=True, capture_output=True)
    script = f"""
import sys
sys.path[:0] = [{str(target)!r}, {sysconfig.get_paths()["purelib"]!r}]
import embedlab.data as data
from embedlab.rag import corpora
assert data.__file__.startswith({str(target)!r}), data.__file__
assert data.DATA_DIR.is_relative_to({str(target)!r}), data.DATA_DIR
print(len(data.toy_vectors()), len(data.embedding_models()), len(corpora.help_centre()),
      len(corpora.help_centre_queries()), len(corpora.wikipedia_questions()), len(corpora.domain_mismatch()),
      len(corpora.domain_mismatch_queries()), len(data.wikipedia_topics()))
"""
    result = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    counts = [int(n) for n in result.stdout.split()]
    assert counts[4] == 189 and counts[7] == 106 and all(n > 0 for n in counts)


def _pins(lines) -> dict:
    pins = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def test_the_chapters_extra_pins_what_requirements_pin():
    """Colab and Binder install ``embedlab[chapters]``: the same versions as a local install."""
    import tomllib

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["chapters"]
    pinned = _pins((ROOT / "requirements.txt").read_text().splitlines())
    extra_pins = _pins(extra)
    assert extra_pins, "the extra pins its packages"
    assert {name: pinned.get(name) for name in extra_pins} == extra_pins
    from packaging.version import Version

    assert "torch>=2.6" in extra and Version(pinned["torch"]) >= Version("2.6")


def test_the_first_cell_installs_the_book_where_it_is_missing(tmp_path):
    """Colab's situation, locally: a fresh virtual environment without embedlab (it sees this
    environment's other packages, so nothing is downloaded), and the install cell pointed at this
    checkout instead of the remote repository. Executing Chapter 1's notebook installs the book in
    its first cell, in one visible step, and then runs every cell."""
    import json
    import os

    environment = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(environment)], check=True)
    python = environment / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # Everything this environment has but the book's own library.
    others = tmp_path / "other-packages"
    others.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.lower().startswith(("embedlab", "__editable__")):
            (others / entry.name).symlink_to(entry)
    (site / "other-packages.pth").write_text(f"{others}\n")
    missing = subprocess.run([python, "-c", "import embedlab"], capture_output=True, text=True)
    assert "No module named 'embedlab'" in missing.stderr

    executed = tmp_path / "executed.ipynb"
    env = {**os.environ, "EMBEDLAB_SOURCE": ROOT.as_uri(), "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "PATH": f"{environment / 'bin'}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(environment)}
    env.pop("PYTHONPATH", None)
    # nbclient in the fresh environment's own Python, so that the kernel is that Python too.
    execute = (f"import nbclient, nbformat; nb = nbformat.read({str(ROOT / 'chapters' / '01_representation.ipynb')!r}, 4); "
               f"nbclient.NotebookClient(nb, timeout=600, kernel_name='python3', "
               f"resources={{'metadata': {{'path': {str(ROOT / 'chapters')!r}}}}}).execute(); "
               f"nbformat.write(nb, {str(executed)!r})")
    run = subprocess.run([python, "-c", execute], capture_output=True, text=True, env=env, cwd=ROOT / "chapters")
    assert run.returncode == 0, run.stderr[-3000:]
    first = json.loads(executed.read_text())["cells"][0]
    printed = "".join("".join(o.get("text", "")) for o in first["outputs"])
    assert "Installing the book's library, models and data from file://" in printed
    installed = subprocess.run([python, "-c", "import embedlab; print(embedlab.__file__)"], capture_output=True,
                               text=True, check=True).stdout
    assert installed.startswith(str(site)), installed
