# Two commands do everything, with no virtual environment to activate:
#
#   make book   creates .venv when it is missing, installs the pinned requirements (again only
#               when a requirements file changed), fetches the pinned JavaScript the pages serve
#               themselves (npm), executes every chapter and renders the site into _build/html.
#               Warnings are errors (-W) and a failing cell fails the build; progress bars
#               are off (TQDM_DISABLE=1): they are for a live notebook, not a page.
#   make test   the test suite, exactly as CI runs it (after `make book`, which the browser
#               test reads): tests/ only, since `make book` has just executed every chapter
#               (a bare `pytest` executes them again under nbval).
#
# Finer targets: install, js, twins (regenerate the chapters' .ipynb twins from their .md),
# lab (the chapters in JupyterLab with the project's venv), serve (the built book on
# http://127.0.0.1:8000), clean.

PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
# What `install` last installed; rebuilt when a requirements file is newer.
INSTALLED := $(VENV)/.installed
# Commands run with the venv first on PATH, so that Jupyter starts the venv's kernel.
RUN := PATH="$(BIN):$$PATH" VIRTUAL_ENV="$(abspath $(VENV))"

JS := book/js
MODULES := $(JS)/node_modules
ASSETS := _build/js-assets/_static

.PHONY: book test install js twins lab serve clean

book: $(INSTALLED) js
	$(RUN) python book/twins.py --check
	$(RUN) TQDM_DISABLE=1 jupyter-book build --all -W -n --keep-going .

test: $(INSTALLED)
	$(RUN) python -m pytest tests

install: $(INSTALLED)

$(INSTALLED): requirements.txt requirements-nodeps.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: make PYTHON=python3.11 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	touch $@

# The chapters' sources are chapters/*.md (MyST notebooks); their .ipynb twins are generated.
twins: $(INSTALLED)
	$(RUN) python book/twins.py

lab: $(INSTALLED)
	$(RUN) jupyter lab chapters/

serve:
	@test -f _build/html/index.html || (echo "no book in _build/html yet: run make book first" && exit 1)
	$(RUN) python -m http.server 8000 --bind 127.0.0.1 --directory _build/html

# html-manager's embed.js draws the core widgets without require.js; its source map and licence
# file go beside it, with the Font Awesome files it finds from its own address. KaTeX's style
# sheet finds its fonts in fonts/ beside it (the formulas are typeset at build time).
js:
	npm ci --prefix $(JS) --ignore-scripts --no-audit --no-fund
	rm -rf _build/js-assets
	mkdir -p $(ASSETS)/ipywidgets $(ASSETS)/katex
	cp $(JS)/widgets-page.js $(ASSETS)/ipywidgets/
	cp $(MODULES)/@jupyter-widgets/html-manager/dist/embed.js \
	   $(MODULES)/@jupyter-widgets/html-manager/dist/embed.js.map \
	   $(MODULES)/@jupyter-widgets/html-manager/dist/embed.js.LICENSE.txt \
	   $(MODULES)/@jupyter-widgets/html-manager/dist/*.woff* \
	   $(MODULES)/@jupyter-widgets/html-manager/dist/*.ttf \
	   $(MODULES)/@jupyter-widgets/html-manager/dist/*.eot \
	   $(MODULES)/@jupyter-widgets/html-manager/dist/*.svg $(ASSETS)/ipywidgets/
	cp -r $(MODULES)/katex/dist/katex.min.css $(MODULES)/katex/dist/fonts $(ASSETS)/katex/

clean:
	rm -rf _build
