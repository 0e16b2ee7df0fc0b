# The two commands a newcomer needs:
#   make demo   - install everything and run the three flows on embedded defaults
#   make test   - install what the tests need, start their services, run lint + the whole suite

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
GOBIN := $(HOME)/go/bin
# Pinned upstream versions (Argo, Argo CD, operators, kustomize): one file, read by make, scripts and tests.
include toolchain/versions.env
export PATH := $(CURDIR)/$(BIN):$(GOBIN):$(PATH)

.PHONY: help venv test-deps lint test test-fast cluster-test demo bench reliability clean images

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@command -v uv >/dev/null || $(PYTHON) -m pip install --quiet uv
	@test -x $(BIN)/python || uv venv --quiet --python $(PYTHON) $(VENV)
	uv pip install --python $(BIN)/python -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed ## create .venv and install the project with its dev tools

test-deps: venv ## PostgreSQL and Redis servers, Kafka broker jars, kustomize, the argo CLI, MinIO and the pinned upstream schemas
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null)
	@command -v redis-server >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null)
	@ls tests/infra/kafka/target/libs/kafka_2.13-*.jar >/dev/null 2>&1 || \
	  (cd tests/infra/kafka && mvn -q -B dependency:copy-dependencies)
	@command -v kustomize >/dev/null || GOBIN=$(GOBIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	@for upstream in ARGO_WORKFLOWS ARGO_CD SPARK_OPERATOR KUBERAY; do toolchain/upstream.sh $$upstream >/dev/null; done
	@toolchain/build.sh argo >/dev/null
	@toolchain/build.sh minio >/dev/null

IMAGES ?= all
images: ## the cluster's images (Debian base, project, model-server, pause, argoexec, spark-operator, ray-operator) as OCI archives; as root, cached by input
	@command -v debootstrap >/dev/null && command -v buildah >/dev/null && command -v runc >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap buildah runc >/dev/null)
	@for image in $(IMAGES); do echo "toolchain/images.sh $$image"; toolchain/images.sh $$image; done

lint: venv ## ruff, mypy and the import-linter layer contract
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: test-deps lint ## everything the tests need, then the whole suite against real services
	$(BIN)/pytest --durations=15

test-fast: venv ## the suite without the slow end-to-end tests
	$(BIN)/pytest -m "not slow"

# All four levels by default; CLUSTER_TEST_LEVEL=2 stops after Argo and the operators, whose pods only get bound:
# the project's images are then named, not built.
CLUSTER_TEST_LEVEL ?= 4
cluster-test: IMAGES = $(if $(filter 1 2,$(CLUSTER_TEST_LEVEL)),pause argoexec,all)
cluster-test: test-deps images ## as root: a real control plane, node, Argo and Argo CD; pipelines run in real pods, Argo CD syncs
	@command -v containerd >/dev/null && command -v iptables >/dev/null && test -x /usr/lib/cni/bridge || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq containerd runc \
	    containernetworking-plugins iptables >/dev/null)
	@command -v kustomize >/dev/null || GOBIN=$(GOBIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	$(BIN)/python -m tests.cluster --level $(CLUSTER_TEST_LEVEL)

demo: venv ## run the three flows end to end on embedded defaults
	$(BIN)/python -m devtools.demo

bench: test-deps ## every benchmark; results land in bench/results/
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

reliability: test-deps ## fault-injection and fuzzing suite; figures land in reliability/results/reliability.json
	$(BIN)/pytest reliability -p no:cacheprovider
	@cat reliability/results/reliability.json

clean: ## remove local state (ledger, checkouts, demo work)
	rm -rf .mlops-gitops demo-work
