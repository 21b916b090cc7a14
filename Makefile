# make run   - set up .venv, migrate, seed demo data, run web + Celery worker + beat (bin/dev)
# make test  - set up .venv, Django checks, migrations check, collectstatic, the test suite
# make lint  - ruff check + ruff format --check
# make clean - remove .venv and generated files (keeps the development database and uploads)
#
# PostgreSQL and Redis are used when DATABASE_URL / REDIS_URL are set; otherwise SQLite and
# Celery's embedded filesystem broker, under var/.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Installing the locks is skipped until one of them changes.
STAMP := $(VENV)/.installed-requirements-dev.lock
TEST_SETTINGS := DJANGO_SETTINGS_MODULE=servicedesk.settings.test

.DEFAULT_GOAL := help
.PHONY: help venv run test lint clean

help:
	@sed -n 's/^# \(make .*\)/\1/p' $(MAKEFILE_LIST)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements-dev.lock requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check --quiet -r requirements-dev.lock
	$(BIN)/python -m pip check
	touch $@

venv: $(STAMP)

run: venv
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	exec bin/dev

test: venv
	$(TEST_SETTINGS) $(BIN)/python manage.py check
	@# A database-less check: PostgreSQL's "servicedesk" database need not exist for this.
	$(TEST_SETTINGS) DATABASE_URL=sqlite:///:memory: $(BIN)/python manage.py makemigrations --check --dry-run
	$(TEST_SETTINGS) $(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@# pytest exits 5 when it collected no tests: that is a failure too, and says so.
	@status=0; $(BIN)/python -m pytest || status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	exit $$status

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-results
	rm -rf var/staticfiles var/test-artifacts var/celery-broker var/test-celery-broker var/test-celery-mail
	rm -f var/celerybeat-schedule* var/test-servicedesk.sqlite3 var/test-celery-worker.log
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
