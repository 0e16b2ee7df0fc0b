"""An ML repository naming its own image: read from its mlops.yaml at the run's commit when the run is submitted.

The repositories are real bare git remotes holding the scaffold; the Argo
Server is the schema-checking stand-in of ``tests/workflows/argo_server``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import PermanentError, TemporaryError
from tests.workflows.argo_server import FakeArgoServer
from tests.workflows.ml_repos import push_change, scaffolded_remote
from tests.workflows.test_render_pipelines import pod_images
from workflows.argo.backend import ArgoBackend
from workflows.argo.repository_image import repository_image
from workflows.mlrepo.contract import ContractError
from workflows.params import EtlParams, FeatureApplyParams, RetrainParams
from workflows.settings import ArgoSettings
from workflows.steps.checkout import file_at

# Hera 7.1 serializes requests with pydantic's deprecated ``.json()``; that is Hera's to change.
pytestmark = pytest.mark.filterwarnings("ignore:The `json` method is deprecated:DeprecationWarning")

REGISTRY = "registry.example.com/ml"
IMAGE = f"{REGISTRY}/churn-ml"
TOKEN = "argo-token-for-image-tests"


@pytest.fixture
def image_repo(tmp_path: Path) -> tuple[str, str, str]:
    """A scaffolded repository whose second commit names an image; returns its URL, first and second commit."""
    bare, clone, first = scaffolded_remote(tmp_path)
    contract = clone / "mlops.yaml"
    text = contract.read_text().replace("  requirements: []\n", f"  image: {IMAGE}\n")
    assert text != contract.read_text()
    second = push_change(bare, clone, {"mlops.yaml": text}, "Run the pipelines in the image CI builds")
    return f"file://{bare}", first, second


def test_the_image_is_tagged_with_the_commit_whose_mlops_yaml_names_it(image_repo: tuple[str, str, str]) -> None:
    url, first, second = image_repo
    params, image = repository_image(RetrainParams(model_name="churn-xgb", repo_url=url, commit=second), [REGISTRY])
    assert image == f"{IMAGE}:{second}"
    assert params.commit == second

    params, image = repository_image(RetrainParams(model_name="churn-xgb", repo_url=url, commit=first), [REGISTRY])
    assert image is None, "the scaffold's first commit names no image: its code runs in the service's image"


def test_a_run_of_the_branch_head_is_pinned_to_the_head_the_image_was_built_from(
    image_repo: tuple[str, str, str],
) -> None:
    url, _, head = image_repo
    given = RetrainParams(
        model_name="churn-xgb", repo_url=url, branch="main", etl=EtlParams(source_uri="/data/raw", partitions=("d=1",))
    )
    params, image = repository_image(given, [REGISTRY])
    assert image == f"{IMAGE}:{head}"
    assert params.commit == head
    assert params.etl is not None and (params.etl.repo_url, params.etl.commit) == (url, head)

    etl, image = repository_image(EtlParams(repo_url=url, source_uri="/data/raw", partitions=("d=1",)), [REGISTRY])
    assert (etl.commit, image) == (head, f"{IMAGE}:{head}")


def test_an_image_outside_the_allowed_registries_is_refused(image_repo: tuple[str, str, str]) -> None:
    url, _, commit = image_repo
    with pytest.raises(PermanentError, match=r"names the image registry\.example\.com/ml/churn-ml, which is not under"):
        repository_image(
            RetrainParams(model_name="churn-xgb", repo_url=url, commit=commit), ["registry.example.com/other"]
        )
    with pytest.raises(PermanentError, match="not under"):
        repository_image(RetrainParams(model_name="churn-xgb", repo_url=url, commit=commit), ["registry.example.com/m"])


def test_without_allowed_registries_or_repository_code_nothing_is_fetched() -> None:
    unreachable = "https://git.invalid/acme/churn-model.git"
    commit = "9fceb02d0ae598e95dc970b74767f19372d61af8"
    retrain = RetrainParams(model_name="churn-xgb", repo_url=unreachable, commit=commit)
    assert repository_image(retrain, []) == (retrain, None)
    apply = FeatureApplyParams(repo_url=unreachable, commit=commit)
    assert repository_image(apply, [REGISTRY]) == (apply, None)
    built_in = EtlParams(source_uri="/data/raw", partitions=("d=1",))
    assert repository_image(built_in, [REGISTRY]) == (built_in, None)


def test_a_missing_contract_or_commit_is_permanent_and_an_unreachable_repository_temporary(
    image_repo: tuple[str, str, str], tmp_path: Path
) -> None:
    url, first, _ = image_repo
    assert file_at(url, first, "no/such/file.txt") is None
    with pytest.raises(PermanentError, match=f"commit {'0' * 40} is not in"):
        file_at(url, "0" * 40, "mlops.yaml")
    with pytest.raises(TemporaryError, match="cannot fetch"):
        file_at(f"file://{tmp_path / 'gone.git'}", first, "mlops.yaml")

    bare, clone, _ = scaffolded_remote(tmp_path, "no-contract")
    without = push_change(bare, clone, {"mlops.yaml": None}, "Drop the contract")
    with pytest.raises(ContractError, match=f"no mlops.yaml at {without[:12]}"):
        repository_image(RetrainParams(model_name="churn-xgb", repo_url=f"file://{bare}", commit=without), [REGISTRY])


@pytest.fixture
def argo() -> Iterator[FakeArgoServer]:
    server = FakeArgoServer(token=TOKEN).start()
    yield server
    server.stop()


def test_the_argo_backend_submits_the_repository_steps_in_the_image_at_the_pushed_commit(
    image_repo: tuple[str, str, str], argo: FakeArgoServer
) -> None:
    url, _, commit = image_repo
    settings = ArgoSettings(
        feast_project="churn", server_url=argo.url, token=TOKEN, namespace="mlops", repository_images=[REGISTRY]
    )
    backend = ArgoBackend(settings, code_repos=[url])
    try:
        name = backend.submit(
            "retrain", RetrainParams(model_name="churn-xgb", repo_url=url), run_name="retrain-image-0", labels={}
        )
    finally:
        backend.close()
    assert argo.rejected == []
    workflow = argo.workflows[("mlops", name)]
    images = pod_images(workflow)
    assert images["repo-tests"] == images["train-rayjob"] == images["evaluate"] == {f"{IMAGE}:{commit}"}
    assert images["build-training-set"] == images["register"] == {settings.image}
    (artifact,) = next(t for t in workflow["spec"]["templates"] if t["name"] == "repo-tests")["inputs"]["artifacts"]
    assert artifact["git"]["revision"] == commit, "the code checked out is the commit the image was built from"
