# The README's two set-up commands are `make run` and `make test`; both create .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test bench profile lint manifest manifest-file clean

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

## manifest: print the Socket Mode manifest (the committed slack-app-manifest.json stays as it is)
manifest: $(STAMP)
	@$(PY) -m bot manifest --socket-mode

## manifest-file: rewrite the committed slack-app-manifest.json from the code, saying whether it changed
manifest-file: $(STAMP)
	@$(PY) -m bot manifest --socket-mode > slack-app-manifest.json.new
	@if cmp -s slack-app-manifest.json.new slack-app-manifest.json; then \
		rm slack-app-manifest.json.new; echo "slack-app-manifest.json is already up to date."; \
	else \
		mv slack-app-manifest.json.new slack-app-manifest.json; \
		echo "slack-app-manifest.json rewritten: review it (git diff slack-app-manifest.json) before committing."; \
	fi

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
