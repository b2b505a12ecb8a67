# Quick start: `make run` and `make test`. Both create .venv if it is missing and install into it,
# in three steps: torch and torchvision first (pinned; pip takes them from this machine's disk);
# then every third-party requirement of pyproject.toml, sdists built WITH isolation from their own
# declared build requirements; then snnleak itself, editable, WITHOUT build isolation (setup.py
# compiles csrc/ against the torch already installed, so no build step can pull another torch).
# `pip check` then proves the set consistent. .ci/run runs this from nothing with no pip cache.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.snnleak-installed
TORCH  := torch==2.14.1 torchvision==0.29.1
PIPFLAGS := --quiet --disable-pip-version-check

# The third-party requirements of pyproject.toml (dependencies and the dev extra, the extra's
# self-references resolved), one per line. They are installed WITH build isolation, so an sdist
# among them (norse needs setuptools_scm) builds with exactly the build requirements it declares:
# a missing one fails here on every machine instead of hiding behind a cached wheel.
export REQUIREMENTS
define REQUIREMENTS
import re, tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
extras, todo, out = p["optional-dependencies"], list(p["dependencies"]), []
todo += extras["dev"]
while todo:
    r = todo.pop(0)
    m = re.fullmatch(r"snnleak\[(.+)\]", r)
    if m:
        todo += [x for e in m.group(1).split(",") for x in extras[e.strip()]]
    elif r not in out:
        out.append(r)
print("\n".join(out))
endef

.PHONY: setup run test lint format native-test cuda-check docs clean headline

CUDA_HOME ?= /usr/local/cuda
TORCH_CUDA_ARCH_LIST ?= 9.0
export CUDA_HOME TORCH_CUDA_ARCH_LIST

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml setup.py $(wildcard csrc/*.cpp csrc/*.h csrc/cuda/*.cu)
	$(PIP) install $(PIPFLAGS) $(TORCH)
	$(PY) -c "$$REQUIREMENTS" > $(VENV)/requirements.txt
	$(PIP) install $(PIPFLAGS) -r $(VENV)/requirements.txt
	$(PIP) install $(PIPFLAGS) "setuptools>=69" wheel
	$(PIP) install $(PIPFLAGS) --no-build-isolation --no-deps -e .
	$(PIP) check
	touch $(STAMP)

setup: $(STAMP)

# The main job: the paper's Tables IV to VI and Figures 3 to 5 on the embedded offline data
# (trains the four judges on first use; about 6 minutes on 2 cores). Prints the tables; writes
# them, the figures and every trial's record under runs/reproduce-quick. Rerunning resumes.
run: setup
	$(VENV)/bin/snnleak reproduce all --preset quick --out runs/reproduce-quick

# The README's headline table and figures, rebuilt from the shipped records (results/headline)
# without running a trial: every number can be checked against its record.
headline: setup
	rm -rf runs/headline && mkdir -p runs/headline
	gunzip -c results/headline/records.jsonl.gz > runs/headline/records.jsonl
	cp -r results/headline/arrays runs/headline/
	$(VENV)/bin/snnleak reproduce adaptive --preset quick --samples 8 --out runs/headline --tables-only

test: setup lint native-test cuda-check
	$(PY) -m pytest

# csrc/ built with CMake against the libtorch inside the installed torch; ctest runs the C++
# test that checks the CPU kernels against naive loops.
native-test: setup
	cmake -S . -B build/native -DCMAKE_PREFIX_PATH="$$($(PY) -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')" -DCUDA_TOOLKIT_ROOT_DIR=$(CUDA_HOME) >/dev/null
	cmake --build build/native -j2
	cd build/native && ctest --output-on-failure

# Compile and link csrc/cuda/ with nvcc (no GPU needed), so that CUDA code that does not
# compile cannot land. Cached under ~/.cache/snnleak/ext/<hash of the sources>.
cuda-check: setup
	@if [ -x "$(CUDA_HOME)/bin/nvcc" ]; then \
	  $(VENV)/bin/snnleak build-fused --cuda; \
	else echo "cuda-check: no nvcc under CUDA_HOME=$(CUDA_HOME); CUDA kernels not compiled"; fi

# The documentation site (docs/, mkdocs.yml) into build/site; --strict: a warning fails it.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache snnleak/_C*.so snnleak/_C.key
