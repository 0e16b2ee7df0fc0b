"""The demo's world: MLflow, the two git remotes, raw data and the service's config."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from gitops.scaffold import init_repo
from mlops_gitops.devstack.git_payloads import git
from mlops_gitops.devstack.mlflow_server import MlflowServer
from workflows.datagen import generate_raw_partitions

MODEL = "churn-xgb"
REPO = "acme/churn-model"
BUCKET = "landing"
DATASET_PATH = "churn/customer_activity"
GITHUB_SECRET = "demo-github-secret"  # noqa: S105 - a throwaway secret of a local demo
MLFLOW_SECRET = "demo-mlflow-secret"  # noqa: S105
DATA_TOKEN = "demo-data-token"  # noqa: S105
ADMIN_TOKEN = "demo-admin-token"  # noqa: S105
BOT_EMAIL = "mlops-gitops-bot@users.noreply.local"
HISTORY_DAYS = 4
NEW_DAYS = 2
ROWS_PER_DAY = 10_000
REPO_ROOT = Path(__file__).resolve().parents[2]

PARAMS_FILE = """\
# XGBoost hyperparameters of the churn classifier; a push that changes them retrains.
max_depth: 4
learning_rate: 0.2
n_estimators: 60
subsample: 0.9
random_state: 42
"""


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

    @property
    def dataset_dir(self) -> Path:
        return self.landing / BUCKET / DATASET_PATH

    @classmethod
    def create(cls, root: Path) -> Workspace:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        mlflow = MlflowServer.start(root / "mlflow")
        try:
            ml_remote, ml_clone = _ml_code_repo(root)
            gitops_remote = _gitops_repo(root)
            landing = root / "buckets"
            data = generate_raw_partitions(
                landing / BUCKET / DATASET_PATH,
                rows=ROWS_PER_DAY * (HISTORY_DAYS + NEW_DAYS),
                days=HISTORY_DAYS + NEW_DAYS,
                start=date(2026, 11, 1),
            )
            history, arrivals = data.partitions[:HISTORY_DAYS], data.partitions[HISTORY_DAYS:]
            workspace = cls(
                root, mlflow, ml_remote, ml_clone, gitops_remote, landing, history, arrivals, root / "config.yaml"
            )
            workspace.write_config()
        except BaseException:
            mlflow.stop()
            raise
        return workspace

    def head(self) -> str:
        return git(self.ml_remote, "rev-parse", "main")

    def write_config(self) -> None:
        rules = self.root / "rules.yaml"
        rules.write_text(yaml.safe_dump(demo_rules(self), sort_keys=False))
        work = self.root / "service"
        config: dict[str, Any] = {
            "server": {"admin_token": ADMIN_TOKEN},
            "logging": {"json_format": True},
            "ledger": {"url": f"sqlite:///{work / 'ledger.db'}"},
            "dispatcher": {"poll_interval_seconds": 0.5},
            "mlflow": {"tracking_uri": self.mlflow.tracking_uri},
            "listeners": {
                "webhooks": {
                    "github": {"secrets": [GITHUB_SECRET]},
                    "mlflow": {"secrets": [MLFLOW_SECRET]},
                    "data": {"secrets": [DATA_TOKEN]},
                },
                "registry_watcher": {"interval_seconds": 2.0, "models": [MODEL]},
            },
            "workflows": {
                "backend": "local",
                "local": {
                    "work_dir": str(work / "pipelines"),
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


def demo_rules(workspace: Workspace) -> dict[str, Any]:
    """The three flows of examples/rules.yaml, pointed at the demo's repositories and landing folder."""
    retrain_params = {
        "repo_url": str(workspace.ml_remote),
        "model_name": MODEL,
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
                        "source_uri": str(workspace.landing / BUCKET / DATASET_PATH),
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
                    }
                ],
            },
            {
                "name": "deploy-on-production-stage",
                "description": "A version moved to Production becomes a commit in the production overlay.",
                "on": ["model.stage.changed"],
                "filters": {"models": [MODEL], "stage": {"to": ["Production"]}},
                "action": {"kind": "gitops-promotion"},
            },
        ],
    }


def _ml_code_repo(root: Path) -> tuple[Path, Path]:
    remote = root / "remotes" / "churn-model.git"
    remote.parent.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    clone = root / "churn-model"
    subprocess.run(["git", "clone", "-q", str(remote), str(clone)], check=True, capture_output=True)
    (clone / "configs").mkdir()
    (clone / "configs" / "xgb_model_params.yaml").write_text(PARAMS_FILE)
    (clone / "README.md").write_text("# churn-model\n\nTraining code and configuration of the churn classifier.\n")
    git(clone, "checkout", "-q", "-b", "main")
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "Churn classifier: initial training configuration")
    git(clone, "push", "-q", "origin", "main")
    return remote, clone


def _gitops_repo(root: Path) -> Path:
    remote = root / "remotes" / "gitops.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    seed = root / "gitops-seed"
    init_repo(
        seed,
        repo_url=f"file://{remote}",
        branch="main",
        model_name=MODEL,
        author=("Platform Team", "platform@example.com"),
    )
    git(seed, "push", "-q", str(remote), "main")
    return remote
