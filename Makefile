# `make book` builds the whole book into _build/html: it fetches the pinned JavaScript the
# pages serve themselves (npm), then executes every chapter and renders the site.
# Warnings are errors (-W) and a failing cell fails the build (nb_execution_raise_on_error).

JS := book/js
MODULES := $(JS)/node_modules
ASSETS := _build/js-assets/_static

.PHONY: book js twins clean

book: js
	python book/twins.py --check
	jupyter-book build --all -W -n --keep-going .

# The chapters' sources are chapters/*.md (MyST notebooks); their .ipynb twins are generated.
twins:
	python book/twins.py

js:
	npm ci --prefix $(JS) --ignore-scripts --no-audit --no-fund
	rm -rf _build/js-assets
	mkdir -p $(ASSETS)/ipywidgets $(ASSETS)/mathjax
	cp $(MODULES)/requirejs/require.js $(JS)/widgets-paths.js $(ASSETS)/ipywidgets/
	cp $(MODULES)/@jupyter-widgets/html-manager/dist/embed-amd.js \
	   $(MODULES)/@jupyter-widgets/html-manager/dist/*.woff* \
	   $(MODULES)/@jupyter-widgets/html-manager/dist/*.ttf \
	   $(MODULES)/@jupyter-widgets/html-manager/dist/*.eot \
	   $(MODULES)/@jupyter-widgets/html-manager/dist/*.svg $(ASSETS)/ipywidgets/
	cp -r $(MODULES)/mathjax/es5/. $(ASSETS)/mathjax/

clean:
	rm -rf _build
