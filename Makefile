# The README's two set-up commands are `make run` and `make test`; both create .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test bench profile lint manifest clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## run: serve for real with Slack credentials (environment or .env); otherwise the sandbox demo
run: $(STAMP)
	@if [ -n "$$SLACK_BOT_TOKEN" ] || grep -qsE '^SLACK_BOT_TOKEN=.+' .env; then \
		$(PY) -m bot serve; \
	else \
		echo "No SLACK_BOT_TOKEN in the environment or .env: running the sandbox demo."; \
		$(PY) -m bot demo; \
	fi

## test: the whole suite (pytest exits 5 when it collects no test: that fails too)
test: $(STAMP)
	$(PY) -m pytest

## bench: speed figures as ratios against baselines measured in the same run
bench: $(STAMP)
	$(PY) -m bench

## profile: where the webhook ingest's time goes (py-spy samples under wrk load)
profile: $(STAMP)
	$(PY) -m bench.profile

lint: $(STAMP)
	$(VENV)/bin/ruff check bot handlers tests bench
	$(VENV)/bin/mypy bot handlers

manifest: $(STAMP)
	$(PY) -m bot manifest --socket-mode > slack-app-manifest.json

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
