# Thin wrapper over CMake, as neovim's is: the two commands a user needs.
#   make demo   install what is missing, build, run hindsight in front of the example Django app
#   make test   install what is missing, build, run every test (unit and end-to-end)
BUILD  ?= build
# The Debian interpreter: its dist-packages hold Django, Flask, gunicorn and pytest.
PYTHON ?= /usr/bin/python3
JOBS   ?= $(shell nproc)
# cmake --build runs make again: its "Entering directory" lines are noise here.
MAKEFLAGS += --no-print-directory

.PHONY: all deps build test unit e2e demo bench clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPython3_EXECUTABLE=$(PYTHON) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

unit: build
	ctest --test-dir $(BUILD) --output-on-failure

e2e: build
	HINDSIGHT_BIN=$(CURDIR)/$(BUILD)/hindsight $(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e

test: unit e2e

demo: build
	@bash scripts/demo.sh $(BUILD)/hindsight

bench: build
	@bash bench/run.sh $(BUILD)/hindsight

clean:
	rm -rf $(BUILD)
