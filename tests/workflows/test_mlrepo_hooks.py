"""Repository hooks: loaded from the checkout, isolated from each other, and their errors are the repository's own."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import PermanentError
from workflows.mlrepo.hooks import HookError, load_hook, repository_imports
from workflows.mlrepo.model import RepoModel
from workflows.mlrepo.scaffold import template_root

MODEL_HOOK = "src/training/xgb_model.py:XGBModel"


def training_rows(size: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    columns = {
        name: rng.integers(0, 30, size)
        for name in (
            "tenure_months",
            "contract_months",
            "sessions_30d",
            "days_since_last_login",
            "support_tickets_30d",
            "payment_failures_90d",
        )
    }
    frame = pd.DataFrame(
        {"customer_id": np.arange(size), **columns, "monthly_charges": 50.0, "avg_session_minutes": 3.5}
    )
    frame["churned"] = rng.integers(0, 2, size)
    return frame


def write(repo: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        (repo / relative).parent.mkdir(parents=True, exist_ok=True)
        (repo / relative).write_text(text)
    return repo


def test_the_scaffold_model_prepares_its_features_and_label() -> None:
    model = RepoModel("train", template_root(), MODEL_HOOK, {"max_depth": 3})

    features, label = model.prepare(training_rows())

    assert list(features.columns)[:2] == ["tenure_months", "monthly_charges"]
    assert "churned" not in features.columns and "customer_id" not in features.columns
    assert (features.dtypes == np.float32).all()
    assert label.dtype == np.float32 and len(label) == 50
    assert model.booster_params()["max_depth"] == 3
    assert model.callback("objective") is None


def test_a_hook_may_import_its_own_modules_and_leaves_none_behind(tmp_path: Path) -> None:
    repo = write(
        tmp_path,
        {
            "src/__init__.py": "",
            "src/features.py": "def ratio(a, b):\n    return a / (b + 1)\n",
            "src/model.py": "from src.features import ratio\n\nclass M:\n    pass\n\nRATIO = ratio\n",
        },
    )
    loaded_before = set(sys.modules)

    hook = load_hook("train", repo, "src/model.py:RATIO")

    assert hook(6, 2) == 2
    assert {name for name in set(sys.modules) - loaded_before if name.startswith("src")} == set()
    assert str(repo) not in sys.path


def test_a_raising_hook_names_step_file_line_and_its_own_traceback(tmp_path: Path) -> None:
    repo = write(
        tmp_path,
        {
            "src/training/xgb_model.py": (
                "import pandas as pd\n"
                "\n"
                "def derive(frame):\n"
                "    return frame['no_such_column'] * 2\n"
                "\n"
                "class XGBModel:\n"
                "    def __init__(self, params):\n"
                "        self.params = params\n"
                "\n"
                "    def prepare(self, frame):\n"
                "        return derive(frame), frame['churned']\n"
            )
        },
    )
    model = RepoModel("train", repo, MODEL_HOOK, {})

    with pytest.raises(HookError) as caught:
        model.prepare(training_rows())

    error = caught.value
    assert isinstance(error, PermanentError)
    message = str(error)
    assert message.startswith(f"step train: hook {MODEL_HOOK} raised KeyError: 'no_such_column'")
    assert error.location == "src/training/xgb_model.py:4"
    assert 'File "src/training/xgb_model.py", line 11, in prepare' in message
    assert 'File "src/training/xgb_model.py", line 4, in derive' in message
    assert "pandas" not in message.split("repository traceback:")[1], "library frames are left out"


def test_a_hook_failing_at_import_is_reported_the_same_way(tmp_path: Path) -> None:
    repo = write(tmp_path, {"src/training/xgb_model.py": "import math\n\nLIMIT = 1 / 0\n"})

    with pytest.raises(HookError, match=r"ZeroDivisionError: division by zero at src/training/xgb_model\.py:3"):
        load_hook("train", repo, MODEL_HOOK)


@pytest.mark.parametrize(
    ("prepare", "expected"),
    [
        ("return frame", "prepare must return (features DataFrame, label)"),
        ("return frame.iloc[:0, :0], frame['churned']", "0 feature columns over 0 rows"),
        ("return frame[['customer_id']].astype(str), frame['churned']", "not numeric: ['customer_id']"),
    ],
)
def test_a_hook_returning_the_wrong_shape_is_a_permanent_error(tmp_path: Path, prepare: str, expected: str) -> None:
    source = (
        "class XGBModel:\n    def __init__(self, params):\n        pass\n\n"
        f"    def prepare(self, frame):\n        {prepare}\n"
    )
    repo = write(tmp_path, {"src/training/xgb_model.py": source})

    with pytest.raises(PermanentError) as caught:
        RepoModel("evaluate", repo, MODEL_HOOK, {}).prepare(training_rows())

    assert str(caught.value).startswith(f"step evaluate: hook {MODEL_HOOK}")
    assert expected in str(caught.value)


def test_a_hook_outside_the_repository_or_missing_is_refused(tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", {"src/model.py": "X = 1\n"})
    write(tmp_path, {"outside.py": "X = 1\n"})

    with pytest.raises(PermanentError, match=r"points outside the repository"):
        load_hook("train", repo, "../outside.py:X")
    with pytest.raises(PermanentError, match=r"src/other\.py does not exist at the trained commit"):
        load_hook("train", repo, "src/other.py:X")
    with pytest.raises(PermanentError, match=r"model\.py defines no 'Y'"):
        load_hook("train", repo, "src/model.py:Y")


def test_repository_imports_leave_no_module_behind_even_from_a_namespace_package(tmp_path: Path) -> None:
    package = tmp_path / "src" / "features"  # no __init__.py anywhere: namespace packages
    package.mkdir(parents=True)
    (package / "ratios.py").write_text("def ratio(a, b):\n    return a / b\n")

    with repository_imports(str(tmp_path)):
        from src.features.ratios import ratio  # type: ignore[import-not-found]

        assert ratio(1, 4) == 0.25

    assert str(tmp_path) not in sys.path
    assert not [name for name in sys.modules if name == "src" or name.startswith("src.")]
