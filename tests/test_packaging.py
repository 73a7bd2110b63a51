"""``pip install .`` (a wheel, not an editable install) gives a library that finds its own data:
the files of data/ travel inside the wheel as embedlab/datasets/."""

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
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", str(ROOT), "-w", str(out)], check=True, capture_output=True)
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
      len(corpora.domain_mismatch_queries()))
"""
    result = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    counts = [int(n) for n in result.stdout.split()]
    assert counts[4] == 189 and all(n > 0 for n in counts)


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
