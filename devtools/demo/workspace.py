"""The demo's world: MLflow, the two git remotes, raw data and the service's config.

The ML code repository is the one ``mlops-gitops init ml-repo`` scaffolds,
and its push changes code: a derived feature in the model class (and the
hyperparameters). The same workspace serves ``make demo`` and the end-to-end
flow tests; a ``Scenario`` says what differs between them (model name, data
size, the training configuration before and after the push), so both drive
one setup.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from devtools.datagen import generate_raw_partitions
from devtools.devstack.git_payloads import git
from devtools.devstack.mlflow_server import MlflowServer
from gitops.scaffold import init_repo
from gitops.settings import ScaffoldSettings
from workflows.mlrepo.scaffold import init_ml_repo

MODEL = "churn-xgb"
FEATURE_SERVICE = "churn_model"  # as the scaffolded repository's feature_repo/ defines it
ENTITY_KEY = "customer_id"
REPO = "acme/churn-model"
BUCKET = "landing"
DATASET_PATH = "churn/customer_activity"
GITHUB_SECRET = "demo-github-secret"  # noqa: S105 - a throwaway secret of a local demo
MLFLOW_SECRET = "demo-mlflow-secret"  # noqa: S105
DATA_TOKEN = "demo-data-bearer-token"  # noqa: S105
READ_TOKEN = "demo-status-read-token-0123456789"  # noqa: S105
ADMIN_TOKEN = "demo-status-admin-token-012345678"  # noqa: S105
BOT_EMAIL = "mlops-gitops-bot@users.noreply.local"
PARAMS_PATH = "configs/xgb_model_params.yaml"
MODEL_PATH = "src/training/xgb_model.py"
DERIVED_FEATURE = "charges_per_tenure_month"
_FEATURES_LINE = '        features = frame[FEATURES].astype("float32")\n'
REPO_ROOT = Path(__file__).resolve().parents[2]

PARAMS_FILE = """\
# XGBoost hyperparameters of the churn classifier; a push that changes them retrains.
max_depth: 4
learning_rate: 0.2
n_estimators: 60
subsample: 0.9
random_state: 42
"""


@dataclass(frozen=True)
class Scenario:
    """What the demo (or a test) plays: the model, how much data, and the training configuration it pushes."""

    model_name: str = MODEL
    rows_per_day: int = 10_000
    history_days: int = 4
    new_days: int = 2
    training_params: str = PARAMS_FILE
    pushed_params: str = PARAMS_FILE.replace("max_depth: 4", "max_depth: 5")
    push_message: str = f"Feature engineering: {DERIVED_FEATURE}; deeper trees (max_depth 4 -> 5)"


def add_derived_feature(model_source: str) -> str:
    """The scaffold's model class with one derived feature: the monthly charges per month of tenure."""
    if _FEATURES_LINE not in model_source:
        raise ValueError(f"{MODEL_PATH} no longer has the line the demo extends: {_FEATURES_LINE.strip()}")
    derived = (
        f"{_FEATURES_LINE}"
        "        # New customers on expensive plans are the likeliest to leave.\n"
        f'        features["{DERIVED_FEATURE}"] = features["monthly_charges"] / (features["tenure_months"] + 1)\n'
    )
    return model_source.replace(_FEATURES_LINE, derived)


def init_bare_repo(path: Path) -> Path:
    """An empty bare repository with ``main`` as its default branch, to serve as a remote."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    return path


@dataclass
class Workspace:
    root: Path
    mlflow: MlflowServer
    ml_remote: Path
    ml_clone: Path
    gitops_remote: Path
    landing: Path
    history: tuple[str, ...]
    arrivals: tuple[str, ...]
    config: Path
    scenario: Scenario

    @property
    def dataset_dir(self) -> Path:
        return self.landing / BUCKET / DATASET_PATH

    @property
    def service_dir(self) -> Path:
        """The service's own state: the ledger, the pipelines' work (Prefect's database, Feast) and its checkout."""
        return self.root / "service"

    @property
    def pipelines_dir(self) -> Path:
        return self.service_dir / "pipelines"

    @classmethod
    def create(
        cls, root: Path, mlflow: MlflowServer, *, ml_remote: Path, gitops_remote: Path, scenario: Scenario
    ) -> Workspace:
        """Seed the two empty bare remotes, land the raw data and write the service's config under ``root``."""
        root.mkdir(parents=True, exist_ok=True)
        ml_clone = _seed_ml_code_repo(ml_remote, root / "churn-model", scenario.training_params)
        _seed_gitops_repo(gitops_remote, root / "gitops-seed", scenario.model_name)
        landing = root / "buckets"
        days = scenario.history_days + scenario.new_days
        data = generate_raw_partitions(
            landing / BUCKET / DATASET_PATH, rows=scenario.rows_per_day * days, days=days, start=date(2026, 11, 1)
        )
        history, arrivals = data.partitions[: scenario.history_days], data.partitions[scenario.history_days :]
        workspace = cls(
            root, mlflow, ml_remote, ml_clone, gitops_remote, landing, history, arrivals, root / "config.yaml", scenario
        )
        workspace.write_config()
        return workspace

    def head(self) -> str:
        return git(self.ml_remote, "rev-parse", "main")

    def run_pipeline(self, pipeline: str, *params: str) -> None:
        """``mlops-gitops run PIPELINE --backend local`` with this workspace's config, as an operator would."""
        args = [arg for param in params for arg in ("-p", param)]
        cmd = [sys.executable, "-m", "mlops_gitops", "run", pipeline, "--backend", "local", *args]
        subprocess.run([*cmd, "--config", str(self.config)], check=True)

    def bootstrap_feature_store(self) -> None:
        """``feast apply``, then the ETL of the history partitions (if the scenario has any)."""
        self.run_pipeline("feature-apply")
        if self.history:
            partitions = [f"partitions={p}" for p in self.history]
            self.run_pipeline("data-etl", f"dataset={DATASET_PATH}", f"source_uri={self.dataset_dir}", *partitions)

    def write_config(self) -> None:
        rules = self.root / "rules.yaml"
        rules.write_text(yaml.safe_dump(demo_rules(self), sort_keys=False))
        work = self.service_dir
        config: dict[str, Any] = {
            "server": {"read_tokens": [READ_TOKEN], "admin_tokens": [ADMIN_TOKEN]},
            "logging": {"json_format": True},
            "ledger": {"url": f"sqlite:///{work / 'ledger.db'}"},
            "dispatcher": {"poll_interval_seconds": 0.5, "run_poll_seconds": 1.0},
            "mlflow": {"tracking_uri": self.mlflow.tracking_uri},
            "listeners": {
                "webhooks": {
                    "clone_urls": {"github": str(self.ml_remote)},  # the demo's one repository, a local bare remote
                    "github": {"secrets": [GITHUB_SECRET]},
                    "mlflow": {"secrets": [MLFLOW_SECRET]},
                    "data": {"secrets": [DATA_TOKEN]},
                },
                "registry_watcher": {"interval_seconds": 2.0, "models": [self.scenario.model_name]},
            },
            "workflows": {
                "backend": "local",
                "code_repos": [str(self.ml_remote)],
                "local": {
                    "work_dir": str(self.pipelines_dir),
                    "mlflow_tracking_uri": self.mlflow.tracking_uri,
                    "feature_repo_source": str(REPO_ROOT / "feature_repo"),
                },
            },
            "gitops": {
                "repo_url": str(self.gitops_remote),
                "work_dir": str(work / "gitops-checkout"),
                "bot_email": BOT_EMAIL,
            },
            "rules": {"path": str(rules)},
        }
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))


def _staging_follow_up() -> dict[str, Any]:
    """A trained version that passed the gate (and beat the champion) is deployed to the staging overlay."""
    return {
        "when": "outputs.register.promoted",
        "action": {
            "kind": "gitops-promotion",
            "environment": "staging",
            "model_name": "{{ outputs.register.model_name }}",
            "version": "{{ outputs.register.model_version }}",
            "training_commit": "{{ outputs.register.training_commit }}",
        },
    }


def demo_rules(workspace: Workspace) -> dict[str, Any]:
    """The three flows of the example rules (``rules.example.yaml``), pointed at the demo's repositories and bucket."""
    model = workspace.scenario.model_name
    retrain_params = {
        "repo_url": str(workspace.ml_remote),
        "model_name": model,
        "num_workers": 2,
        "gate": {"metric": "auc", "threshold": 0.6, "promote_to": "Staging"},
    }
    return {
        "version": 1,
        "triggers": [
            {
                "name": "retrain-on-push",
                "description": "A push that changes training code or its configuration retrains at that commit.",
                "on": ["git.push"],
                "filters": {"repos": [REPO], "branches": ["main"], "paths": ["configs/*", "src/*"]},
                "action": {
                    "kind": "workflow",
                    "pipeline": "retrain",
                    "params": {**retrain_params, "commit": "{{ data.after }}"},
                },
                "then": [_staging_follow_up()],
            },
            {
                "name": "etl-and-retrain-on-data",
                "description": "New partitions are cleaned into the feature store, then the model retrains.",
                "on": ["data.arrived"],
                "filters": {"datasets": [f"{BUCKET}/{DATASET_PATH}"]},
                "debounce": {"key": "{{ data.dataset }}", "quiet_seconds": 5, "max_wait_seconds": 60},
                "concurrency": {"key": "{{ data.dataset }}", "policy": "queue"},
                "action": {
                    "kind": "workflow",
                    "pipeline": "data-etl",
                    "params": {
                        "dataset": DATASET_PATH,
                        "repo_url": str(workspace.ml_remote),
                        "source_uri": str(workspace.dataset_dir),
                        "partitions": "{{ events | map(attribute='data.partition') | unique | list }}",
                    },
                },
                "then": [
                    {
                        "action": {
                            "kind": "workflow",
                            "pipeline": "retrain",
                            "params": {**retrain_params, "commit": workspace.head()},
                        }
                    },
                    _staging_follow_up(),
                ],
            },
            {
                "name": "deploy-on-production-stage",
                "description": "A version moved to Production becomes a commit in the production overlay.",
                "on": ["model.stage.changed"],
                "filters": {"models": [model], "stage": {"to": ["Production"]}},
                "action": {"kind": "gitops-promotion"},
            },
        ],
    }


def _seed_ml_code_repo(remote: Path, clone: Path, training_params: str) -> Path:
    """Scaffold the ML repository, commit the scenario's training configuration and push to ``main``."""
    init_ml_repo(clone, feature_repo=REPO_ROOT / "feature_repo", author=("Data Scientist", "ds@example.com"))
    (clone / PARAMS_PATH).write_text(training_params)
    git(clone, "remote", "add", "origin", str(remote))
    git(clone, "commit", "-q", "--allow-empty", "-am", "Churn classifier: initial training configuration")
    git(clone, "push", "-q", "origin", "main")
    return clone


def _seed_gitops_repo(remote: Path, seed: Path, model_name: str) -> None:
    served = ScaffoldSettings(model_name=model_name, feature_service=FEATURE_SERVICE, entity_key=ENTITY_KEY)
    init_repo(
        seed,
        repo_url=f"file://{remote}",
        branch="main",
        author=("Platform Team", "platform@example.com"),
        scaffold=served,
    )
    git(seed, "push", "-q", str(remote), "main")
