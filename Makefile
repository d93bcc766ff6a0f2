# DOSS backend. `make` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
MODULES := pkg pkg/embedded services/auth services/gateway services/notifier services/profile services/documents services/devstack deploy/check
GO ?= go

.PHONY: help run test admin seed bench fuzz lint fmt tidy build up down bus-keys images compose-test
# `docker compose` (plugin) where there is one, else Debian's docker-compose.
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose)
OFFLINE := $(COMPOSE) -f docker-compose.yml -f deploy/compose/offline.yml

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

run: ## the whole system in one process: embedded NATS, FerretDB, S3; gateway on 127.0.0.1:8080 (dev mode, data in ./.data)
	cd services/devstack && DOSS_DATA_DIR="$${DOSS_DATA_DIR:-$(CURDIR)/.data}" $(GO) run .

test: ## unit and integration tests against real in-process NATS, FerretDB and S3
	@set -e; for m in $(MODULES); do echo "== $$m"; (cd $$m && $(GO) vet ./... && $(GO) test -count=1 ./...); done

seed: ## grow make run's store to N seeded accounts (make seed N=100000; default 1000), straight into the stores in bulk; each logs in with phone +1415300000… and PIN 4829; stop make run first
	cd services/devstack && DOSS_DATA_DIR="$${DOSS_DATA_DIR:-$(CURDIR)/.data}" $(GO) run ./seed -n $${N:-1000}

bench: ## build every service, run each as a process beside a bare Echo+JWT baseline, print req/s p50 p99 vs the targets; results in docs/benchmarks.md
	cd services/devstack && $(GO) run ./bench -out ../../docs/benchmarks.md

fuzz: ## run each fuzz target for FUZZTIME executions (default 10000x; a count, not a duration: Go 1.26 can fail a duration run at its deadline, go.dev/issue/75804); found inputs stay in testdata as regressions
	@set -e; cd services/auth && for f in FuzzNormalizeEmail FuzzNormalizePhone; do \
	  $(GO) test ./internal/app -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-10000x}; done
	@cd pkg && $(GO) test ./imagex -run '^$$' -fuzz '^FuzzOrientation$$' -fuzztime $${FUZZTIME:-10000x}
	@set -e; cd services/gateway && for f in FuzzAuthenticate FuzzReadImage FuzzReadDocumentForm; do \
	  $(GO) test ./gateway -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-10000x}; done

lint: ## gofmt, go vet, and every go.mod tidy on its own (as a build outside the workspace reads it)
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) vet ./...); done
	@set -e; for m in $(MODULES); do (cd $$m && GOWORK=off $(GO) mod tidy -diff) || { echo "$$m: go.mod is not tidy on its own; run make tidy"; exit 1; }; done

fmt: ## format the code
	gofmt -w $(MODULES)

tidy: ## go mod tidy in every module, each on its own
	@set -e; for m in $(MODULES); do (cd $$m && GOWORK=off $(GO) mod tidy); done

build: ## build every service binary into ./bin
	@mkdir -p bin; set -e; for s in auth gateway notifier profile documents devstack; do (cd services/$$s && $(GO) build -o ../../bin/$$s .); done

admin: ## staff accounts for the console: make admin ARGS="create NAME --role reviewer" (also list, disable, enable, reset, role NAME ROLE); against make run's store by default
	cd services/auth && DOSS_ENV="$${DOSS_ENV:-dev}" $(GO) run ./cmd/doss-admin $(ARGS)

bus-keys: ## print a fresh set of bus credentials (nkeys, seeds, identity keys) as .env lines: make bus-keys > .env (compose); a secret
	@cd services/devstack && $(GO) run ./buskeys

up: ## the real stack in Docker (MongoDB, NATS, MinIO, Mailpit, services): needs a Docker engine
	docker compose up --build -d

down: ## stop the Docker stack
	docker compose down

images: ## static binaries on the host (its Go build cache), then every image FROM scratch (deploy/Dockerfile.scratch, deploy/compose/offline.yml): no registry needed
	deploy/compose/stage.sh
	@# compose checks the route password even to build; the build uses none.
	DOSS_NATS_ROUTE_PASSWORD=$${DOSS_NATS_ROUTE_PASSWORD:-unused-by-the-build} $(OFFLINE) build

images-registry: ## the same images with the multi-stage deploy/Dockerfile (pulls golang; machines with a registry)
	$(COMPOSE) build

compose-test: ## make images, the offline stack (3-node NATS cluster) up, the app's flows against :8080, every replica served (/connz), faults under load (TestComposeClusterFaults), down -v
	deploy/compose/test.sh

deploy-check: ## check docker-compose.yml, deploy/Dockerfile, nats.conf and deploy/k8s against the code (part of make test)
	cd deploy/check && $(GO) test -count=1 ./...
