"""Compose every layer into the running service: the one place that knows them all.

Start-up is fail-fast: configuration, rules, the ledger and the webhook
secrets are checked before the port opens, each problem reported as one line
naming it. Then the web app (ingestion, status API, operations endpoints) runs
in the foreground under uvicorn, and the Kafka consumer, the registry watcher,
the dispatcher and the ledger's pruning run beside it as supervised
background loops. Stopping stops all of them and then closes what the
workflow backend started (on the local backend: Ray and Prefect's API server,
child processes that would otherwise outlive the service).

A process that seems stuck can be asked where it is: ``kill -USR1 PID``
writes the stack of every thread to its standard error, and it keeps running.
"""

from __future__ import annotations

import faulthandler
import signal
from dataclasses import dataclass
from datetime import timedelta

import uvicorn
from fastapi import FastAPI

from core.errors import PermanentError
from core.logging import configure_logging, get_logger
from gitops.mlflow_registry import MlflowModelRegistry
from gitops.policy import PromotionPolicy
from gitops.writer import GitOpsWriter
from listeners.http.app import create_app
from listeners.intake import Intake
from listeners.kafka.consumer import IngestConsumer
from listeners.watcher.watcher import RegistryWatcher
from listeners.webhook_secrets import check_webhook_secrets
from mlops_gitops.api.auth import BearerTokens
from mlops_gitops.api.docs import docs_router
from mlops_gitops.api.events import events_router
from mlops_gitops.mlflow_requests import bound_mlflow_requests
from mlops_gitops.settings import Settings
from mlops_gitops.workers import Workers
from triggers.actions.registry import ACTION_SPECS, build_action_kinds
from triggers.dispatcher import Dispatcher
from triggers.ledger import Ledger
from triggers.ledger.retention import Pruner
from triggers.rules.engine import RulesEngine
from triggers.rules.loader import compile_rules, load_rules
from triggers.rules.rule import Rule
from workflows.backend import WorkflowBackend
from workflows.factory import make_backend

log = get_logger(__name__)


class UnpinnedHostKeysError(PermanentError):
    """An SSH GitOps remote without pinned host keys, outside --insecure-dev."""


def check_ssh_host_keys(settings: Settings) -> None:
    """Refuse an SSH remote whose host key would be trusted on first sight, unless ``--insecure-dev``."""
    if not settings.gitops.unpinned_ssh():
        return
    if settings.listeners.insecure_dev:
        log.warning("INSECURE: the GitOps SSH remote's host key is not pinned; new host keys are accepted")
        return
    raise UnpinnedHostKeysError(
        "gitops.ssh_known_hosts_path: set it to the remote's known_hosts file (ssh-keyscan, verified) for an SSH "
        "remote; only --insecure-dev accepts new host keys"
    )


def check_rules(settings: Settings) -> tuple[Rule, ...]:
    """Load and validate the rules; ``RulesError`` lists each problem by trigger and field."""
    if settings.rules.inline is not None:
        return compile_rules(settings.rules.inline, ACTION_SPECS)
    return load_rules(settings.rules.path, ACTION_SPECS)


@dataclass
class Service:
    settings: Settings
    ledger: Ledger
    app: FastAPI
    workers: Workers
    dispatcher: Dispatcher | None
    backend: WorkflowBackend | None
    consumer: IngestConsumer | None
    watcher: RegistryWatcher | None
    pruner: Pruner

    @classmethod
    def build(cls, settings: Settings) -> Service:
        configure_logging(settings.logging.level, settings.logging.json_format, secrets=settings.secret_values())
        for place in settings.short_secrets():
            log.warning("secret shorter than 32 bytes; use a longer random one", setting=place)
        rules = check_rules(settings)
        check_webhook_secrets(settings.listeners)
        check_ssh_host_keys(settings)
        bound_mlflow_requests(settings.mlflow)
        ledger = Ledger.open(settings.ledger.url, sqlite_synchronous=settings.ledger.sqlite_synchronous)
        backend = make_backend(settings.workflows) if settings.dispatcher.enabled else None
        dispatcher = cls._dispatcher(settings, ledger, rules, backend) if backend is not None else None
        kafka = settings.listeners.kafka
        consumer = IngestConsumer(kafka, Intake(settings.listeners, ledger, channel="kafka")) if kafka.enabled else None
        watcher = (
            RegistryWatcher(
                settings.listeners.registry_watcher, ledger, MlflowModelRegistry(settings.mlflow.tracking_uri)
            )
            if settings.listeners.registry_watcher.enabled
            else None
        )
        tokens = BearerTokens(read=settings.server.read_tokens, admin=settings.server.admin_tokens)
        app = create_app(
            settings.listeners,
            ledger,
            kafka_ready=consumer.assigned if consumer else None,
            extra_routers=[
                events_router(ledger, tokens, max_response_bytes=settings.server.max_response_bytes),
                docs_router(tokens),
            ],
        )
        app.title = "mlops-gitops"
        pruner = Pruner(ledger.database, timedelta(days=settings.ledger.retention_days))
        return cls(settings, ledger, app, Workers(), dispatcher, backend, consumer, watcher, pruner)

    @staticmethod
    def _dispatcher(
        settings: Settings, ledger: Ledger, rules: tuple[Rule, ...], backend: WorkflowBackend
    ) -> Dispatcher:
        actions = build_action_kinds(
            backend=backend,
            writer=GitOpsWriter(settings.gitops, MlflowModelRegistry(settings.mlflow.tracking_uri)),
            policy=PromotionPolicy(settings.gitops.policy),
        )
        engine = RulesEngine(rules, bot_email=settings.gitops.bot_email)
        return Dispatcher(ledger, engine, actions, settings.dispatcher)

    def start_background(self) -> None:
        if self.consumer:
            self.workers.start("kafka-consumer", self.consumer.run)
        if self.watcher:
            self.workers.start("registry-watcher", self.watcher.run)
        if self.dispatcher:
            self.workers.start("dispatcher", self.dispatcher.run_forever)
        self.workers.start("ledger-pruner", self.pruner.run)

    def serve(self) -> None:
        """Run until SIGINT/SIGTERM; the background loops stop with the server."""
        server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                host=self.settings.server.host,
                port=self.settings.server.port,
                log_config=None,
                access_log=False,
                timeout_graceful_shutdown=10,
            )
        )
        faulthandler.register(signal.SIGUSR1, all_threads=True)
        self.start_background()
        log.info("serving", host=self.settings.server.host, port=self.settings.server.port)
        try:
            server.run()
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop the background loops, then whatever the workflow backend started, then close the ledger."""
        self.workers.shutdown()
        if self.backend is not None:
            self.backend.close()
        self.ledger.close()
