"""The ETL's Spark session reaches object storage through S3A, configured from the step runtime.

The example rules pass ``s3://`` paths, which Hadoop has no filesystem for by
default: the session maps them to S3A, points S3A at the configured store
(path-style for MinIO-like stores), and leaves the keys to the JVM's
environment. The Hadoop configuration is read back from a real session.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from tests.workflows.pipeline_samples import SAMPLE_LABELS, SAMPLE_PARAMS
from workflows.pipelines import build_workflow
from workflows.settings import ArgoSettings, WorkflowSettings
from workflows.steps.contract import S3Runtime, SparkRuntime
from workflows.steps.spark import ENVIRONMENT_CREDENTIALS, S3A_FILESYSTEM, spark_session


def test_the_session_maps_s3_paths_to_the_configured_s3a_store() -> None:
    store = S3Runtime(endpoint="http://127.0.0.1:9000", region="eu-west-1", path_style_access=True)
    spark = spark_session(SparkRuntime(shuffle_partitions=1, driver_memory="512m", s3=store))

    hadoop = spark._jsparkSession.sessionState().newHadoopConf()

    assert hadoop.get("fs.s3.impl") == S3A_FILESYSTEM
    assert hadoop.get("fs.s3a.impl") == S3A_FILESYSTEM
    assert hadoop.get("fs.s3a.endpoint") == "http://127.0.0.1:9000"
    assert hadoop.get("fs.s3a.endpoint.region") == "eu-west-1"
    assert hadoop.get("fs.s3a.path.style.access") == "true"
    assert hadoop.get("fs.s3a.connection.ssl.enabled") == "false"
    assert hadoop.get("fs.s3a.aws.credentials.provider") == ENVIRONMENT_CREDENTIALS
    # No key ever reaches the configuration: S3A reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY itself.
    assert hadoop.get("fs.s3a.access.key") is None
    assert hadoop.get("fs.s3a.secret.key") is None


def test_the_store_comes_from_the_settings_of_each_backend() -> None:
    settings = WorkflowSettings.model_validate(
        {
            "argo": {"spark": {"s3": {"endpoint": "http://minio.mlops.svc:9000", "path_style_access": True}}},
            "local": {"spark_s3": {"endpoint": "https://s3.example.org"}},
        }
    )

    assert settings.argo.spark.s3.endpoint == "http://minio.mlops.svc:9000"
    assert settings.argo.spark.s3.path_style_access
    assert settings.local.spark_s3.endpoint == "https://s3.example.org"


@pytest.mark.parametrize("endpoint", ["minio:9000", "ftp://minio:9000", "http://minio:9000/bucket", "http://a b"])
def test_an_endpoint_that_is_not_a_plain_http_url_is_refused(endpoint: str) -> None:
    with pytest.raises(ValidationError):
        S3Runtime(endpoint=endpoint)


def test_the_etl_spark_application_tells_the_step_where_the_store_is() -> None:
    store = {"endpoint": "http://minio.mlops.svc:9000", "region": "eu-west-1", "path_style_access": True}
    workflow = build_workflow(
        "data-etl",
        SAMPLE_PARAMS["data-etl"],
        run_name="data-etl-0123456789ab",
        labels=SAMPLE_LABELS,
        settings=ArgoSettings(feast_project="churn", spark={"s3": store}),
    ).to_dict()
    [application] = [
        yaml.safe_load(template["resource"]["manifest"])
        for template in workflow["spec"]["templates"]
        if "SparkApplication" in template.get("resource", {}).get("manifest", "")
    ]
    arguments = application["spec"]["arguments"]
    request = json.loads(arguments[arguments.index("--params") + 1])

    assert request["runtime"]["spark"]["s3"] == store


def _spark_application(settings: ArgoSettings) -> dict[str, Any]:
    workflow = build_workflow(
        "data-etl", SAMPLE_PARAMS["data-etl"], run_name="data-etl-0123456789ab", labels=SAMPLE_LABELS, settings=settings
    ).to_dict()
    [manifest] = [
        t["resource"]["manifest"]
        for t in workflow["spec"]["templates"]
        if "SparkApplication" in t.get("resource", {}).get("manifest", "")
    ]
    application: dict[str, Any] = yaml.safe_load(manifest)
    return application


def test_driver_and_executors_take_the_keys_from_the_named_secret_and_request_the_set_cpu() -> None:
    settings = ArgoSettings(
        feast_project="churn",
        spark={"s3_credentials_secret": "store-keys", "driver_core_request": "250m", "executor_core_request": "0.5"},
    )
    spec = _spark_application(settings)["spec"]

    for role in ("driver", "executor"):
        assert spec[role]["envSecretKeyRefs"] == {
            "AWS_ACCESS_KEY_ID": {"name": "store-keys", "key": "AWS_ACCESS_KEY_ID"},
            "AWS_SECRET_ACCESS_KEY": {"name": "store-keys", "key": "AWS_SECRET_ACCESS_KEY"},
        }
    assert (spec["driver"]["cores"], spec["driver"]["coreRequest"]) == (1, "250m")
    assert (spec["executor"]["cores"], spec["executor"]["coreRequest"]) == (2, "0.5")


def test_without_a_secret_the_pods_get_no_keys_and_cores_are_requested_whole() -> None:
    spec = _spark_application(ArgoSettings(feast_project="churn", spark={"s3_credentials_secret": None}))["spec"]

    for role in ("driver", "executor"):
        assert "envSecretKeyRefs" not in spec[role]
        assert "coreRequest" not in spec[role]


@pytest.mark.parametrize("field", ["s3_credentials_secret", "driver_core_request"])
@pytest.mark.parametrize("value", ["Bad_Name", "250 m", "1;rm -rf /", ""])
def test_a_secret_name_or_cpu_request_that_kubernetes_would_refuse_is_refused_in_the_settings(
    field: str, value: str
) -> None:
    with pytest.raises(ValidationError):
        ArgoSettings(feast_project="churn", spark={field: value})


def test_the_work_claim_is_mounted_by_sparks_own_settings_not_the_operators_webhook() -> None:
    spec = _spark_application(ArgoSettings(feast_project="churn", work_volume_claim="team-work"))["spec"]

    for role in ("driver", "executor"):
        prefix = f"spark.kubernetes.{role}.volumes.persistentVolumeClaim.work"
        assert spec["sparkConf"][f"{prefix}.options.claimName"] == "team-work"
        assert spec["sparkConf"][f"{prefix}.mount.path"] == "/work"
        assert "volumeMounts" not in spec[role], "applied only by spark-operator's webhook"
    assert "volumes" not in spec
