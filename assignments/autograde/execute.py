"""Run an assembled notebook in its own kernel: a per-cell timeout, a hang or a dead kernel costs that
cell only, and an integrity check before every test cell undoes (and reports) any rebinding of the
functions the tests rely on.

The guard cell runs first, before any student code: it imports the modules the tests use (NumPy,
``math``, the builtins, the book's library and what it imports) and keeps private references to
every public attribute. Before each test cell, a check compares each attribute with its reference,
puts the real one back, and prints what it found on a line that starts with a random token.
``np.allclose = lambda *a, **k: True`` in a student cell is thus undone before the tests run, and
reported. A student who reads the kernel's memory can still find the token; this guards against
rebinding, not against a determined attacker with the grader's source. (``input`` is left out:
the kernel itself rebinds it for every cell.)
"""

from __future__ import annotations

import ast
import builtins
import json
import secrets

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

MAX_RESTARTS = 4  # hangs or crashes survived per notebook; each costs a fresh kernel and a re-run
BASE_MODULES = ("builtins", "math", "numpy", "numpy.linalg", "numpy.random", "numpy.testing")

_GUARD = '''\
def _grader_guard(module_names, builtin_names, token):
    import builtins, json, sys
    import numpy
    for name in module_names:
        try:
            __import__(name)
        except Exception:
            pass
    if "torch" in sys.modules:
        module_names = [*module_names, "torch", "torch.nn.functional"]
    kept = {{name: (sys.modules[name], {{key: value for key, value in vars(sys.modules[name]).items()
                                        if (not key.startswith("_") or key == "__import__") and key != "input"}})
            for name in module_names if name in sys.modules}}
    real_builtins = dict(vars(builtins))
    namespace, modules, stdout, dumps = globals(), sys.modules, sys.stdout, json.dumps
    missing = object()

    def check():
        tampered, shadowed = [], []
        for name, (module, attributes) in kept.items():
            if modules.get(name) is not module:
                tampered.append(f"sys.modules[{{name!r}}] replaced")
                modules[name] = module
            current = vars(module)
            for key, value in attributes.items():
                if current.get(key, missing) is not value:
                    tampered.append(f"{{name}}.{{key}} rebound")
                    setattr(module, key, value)
        if namespace.get("np", numpy) is not numpy:
            tampered.append("np rebound")
            namespace["np"] = numpy
        for key in builtin_names:
            shadow = namespace.get(key, missing)
            if shadow is not missing and shadow is not real_builtins.get(key):
                shadowed.append(f"built-in {{key}} shadowed by a global")
                del namespace[key]
        stdout.write(token + " " + dumps({{"tampered": tampered, "shadowed": shadowed}}) + "\\n")
        stdout.flush()
    return check


{check} = _grader_guard({modules!r}, {builtin_names!r}, {token!r})
del _grader_guard
'''


def tested_modules(source) -> list[str]:
    """The modules the test cells import (``from embedlab import similarity`` gives ``embedlab`` and
    ``embedlab.similarity``), after the base modules every test relies on."""
    names = list(BASE_MODULES)
    for cell in source.cells:
        if not cell.metadata.get("nbgrader", {}).get("grade"):
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.ImportFrom) and node.module:
                names += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
    return list(dict.fromkeys(names))


def tested_builtins(source) -> list[str]:
    """The built-in names the test cells call (``len``, ``list``, ``isinstance``, ...): a student global
    of one of these names would change what a test checks."""
    used = set()
    for cell in source.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            used |= {node.id for node in ast.walk(ast.parse(cell.source)) if isinstance(node, ast.Name)}
    return sorted(name for name in used if hasattr(builtins, name) and not name.startswith("_"))


def guarded(notebook, source):
    """``(notebook, token)``: ``notebook`` with the guard cell first and a check before every test cell."""
    token = f"grader-{secrets.token_hex(8)}"
    check = f"_check_{secrets.token_hex(6)}"
    guard = _GUARD.format(check=check, modules=tested_modules(source), builtin_names=tested_builtins(source), token=token)
    cells = [nbformat.v4.new_code_cell(guard, metadata={"grader": "guard"})]
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code":
            cells.append(nbformat.v4.new_code_cell(f"{check}()", metadata={"grader": "check"}))
        cells.append(cell)
    for cell in cells:
        cell.setdefault("id", secrets.token_hex(8))
    return nbformat.v4.new_notebook(cells=cells, metadata=notebook.metadata), token


def run(notebook, timeout: float, workdir) -> tuple[object, dict[int, str]]:
    """Execute ``notebook`` cell by cell in a fresh ``python3`` kernel started in ``workdir``.

    A cell that runs longer than ``timeout`` seconds, or kills the kernel, is replaced by one that
    raises and the notebook is run again from the start in a new kernel, so that a hang costs its own
    cell only. Returns the executed notebook and ``{cell index: what went wrong}`` for such cells."""
    failed: dict[int, str] = {}
    for _ in range(MAX_RESTARTS + 1):
        attempt = nbformat.from_dict(json.loads(json.dumps(notebook)))
        for index, reason in failed.items():
            attempt.cells[index].source = f"raise RuntimeError({reason!r})"
        client = NotebookClient(attempt, timeout=timeout, kernel_name="python3", allow_errors=True,
                                interrupt_on_timeout=False, startup_timeout=120,
                                resources={"metadata": {"path": str(workdir)}})
        interrupted = None
        with client.setup_kernel():
            for index, cell in enumerate(attempt.cells):
                if cell.cell_type != "code":
                    continue
                try:
                    client.execute_cell(cell, index)
                except CellTimeoutError:
                    interrupted = (index, f"timeout: this cell ran longer than {timeout:g} s when graded")
                except DeadKernelError:
                    interrupted = (index, "crashed: this cell stopped the Python kernel when graded")
                if interrupted:
                    break
        if interrupted is None:
            return attempt, failed
        failed[interrupted[0]] = interrupted[1]
    return attempt, failed
