# speechgen: `make demo` runs the main recipe on the embedded corpus, `make test` runs the tests.
VENV := tools/venv
PY := $(VENV)/bin/python

.PHONY: install demo test clean-venv

install: $(VENV)/.installed

$(VENV)/.installed: setup.py tools/install.sh speechgen/signal/_maxtree.c
	bash tools/install.sh

demo: install
	cd egs/timit_fdnf && ./run.sh

test: install
	$(PY) -m pytest -q tests

clean-venv:
	rm -rf $(VENV)
