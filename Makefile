# speechgen: `make demo` runs the main recipe on the embedded corpus, `make test` runs the tests.
VENV := tools/venv
PY := $(VENV)/bin/python

.PHONY: install demo test test-all clean-venv

# `make test` leaves out the checks marked slow (whole debug recipes, multi-process training); CI
# (CI=true) and `make test-all` run every test
ifeq ($(CI),true)
TEST_SELECT :=
else
TEST_SELECT := -m "not slow"
endif

install: $(VENV)/.installed

$(VENV)/.installed: setup.py tools/install.sh speechgen/signal/_maxtree.c
	bash tools/install.sh

demo: install
	cd egs/timit_fdnf && ./run.sh

test: install
	$(PY) -m pytest -q tests $(TEST_SELECT)

test-all: install
	$(PY) -m pytest -q tests

clean-venv:
	rm -rf $(VENV)
