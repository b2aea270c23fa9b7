"""``reportc deploy --emit kubernetes|aws-batch``: valid definitions, checked by the
engines' own schemas.

Kubernetes objects are validated with kubernetes-validate (strict: an unknown field
fails) against the stated Kubernetes version; AWS Batch inputs with botocore's own
service model, as the SDK checks a call. And the commands they run are the ones the
tests run: ``--shard auto/N`` from ``JOB_COMPLETION_INDEX``, ``AWS_BATCH_JOB_ARRAY_*``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest
import yaml
from click.testing import CliRunner

import reportc
from reportc.cli import main
from reportc.deploy import KUBERNETES_VERSION, DeployOptions, batch_definitions, kubernetes_objects
from tests.conftest import MINIMAL_YAML, MakeProject

SCHEDULED = (
    MINIMAL_YAML.replace(
        "delivery:\n",
        "archive: {location: .reportc/archive}\n"
        "delivery:\n  transport: smtp\n  smtp: {host: smtp.example.com}\n",
    ).replace(
        "    type: csv\n    path: data/sales.csv\n", "    type: csv\n    path: ${SALES_CSV}\n"
    )
    + """\
  cfo_weekly:
    title: CFO Report
    sections: [summary]
    schedule: {cron: "30 6 * * 1-5", timezone: Europe/London}
"""
)


def _project(make_project: MakeProject) -> reportc.Project:
    root = make_project({"reports.yaml": SCHEDULED})
    return reportc.load_project(root, environ={"SALES_CSV": "data/sales.csv"})


def test_kubernetes_objects_are_valid_for_the_stated_version(make_project: MakeProject) -> None:
    import kubernetes_validate

    objects = kubernetes_objects(
        _project(make_project), DeployOptions(image="reg/reportc:1", shards=5)
    )
    assert [o["kind"] for o in objects] == ["Job", "Job", "CronJob"]
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    build, send, cron = objects
    assert build["spec"]["completionMode"] == "Indexed" and build["spec"]["completions"] == 5
    assert build["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "-C",
        "/project",
        "build",
        "--shard",
        "auto/5",
        "--no-archive",
    ]
    pod = send["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["args"] == ["-C", "/project", "archive"]
    assert pod["containers"][0]["args"] == ["-C", "/project", "send"]
    assert pod["containers"][0]["envFrom"] == [{"secretRef": {"name": "reportc-env"}}]
    assert cron["spec"]["schedule"] == "30 6 * * 1-5"
    assert cron["spec"]["timeZone"] == "Europe/London"
    assert cron["metadata"]["name"] == "reportc-cfo-weekly"  # a DNS-1123 name


def test_an_invalid_object_is_what_kubernetes_validate_refuses(make_project: MakeProject) -> None:
    """The check above can fail: a misspelt field is refused in strict mode."""
    import kubernetes_validate

    job = kubernetes_objects(_project(make_project), DeployOptions(image="x"))[0]
    job["spec"]["completionsMode"] = "Indexed"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)


def _botocore(operation: str, params: Mapping[str, object]) -> None:
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("batch")
    report = ParamValidator().validate(params, model.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()


def test_aws_batch_inputs_are_valid_for_the_batch_api(make_project: MakeProject) -> None:
    defs = batch_definitions(
        _project(make_project),
        DeployOptions(image="123.dkr.ecr.us-east-1.amazonaws.com/reportc:1", shards=8),
    )
    _botocore("RegisterJobDefinition", defs["registerJobDefinition"])
    for step in ("submitBuild", "submitArchive", "submitSend"):
        _botocore("SubmitJob", defs[step])
    container = defs["registerJobDefinition"]["containerProperties"]
    assert container["command"] == ["-C", "/project", "build", "--shard", "auto", "--no-archive"]
    assert {"name": "AWS_BATCH_JOB_ARRAY_SIZE", "value": "8"} in container["environment"]
    assert defs["submitBuild"]["arrayProperties"] == {"size": 8}
    assert defs["submitArchive"]["dependsOn"] == [{"jobId": "BUILD_JOB_ID"}]
    assert defs["submitSend"]["dependsOn"] == [{"jobId": "ARCHIVE_JOB_ID"}]
    assert defs["submitSend"]["containerOverrides"]["command"] == ["-C", "/project", "send"]
    # the variables a run needs come from Secrets Manager, never the definition itself
    assert [s["name"] for s in container["secrets"]] == [
        "SALES_CSV",
        "SMTP_PASSWORD",
        "SMTP_USERNAME",
    ]
    assert all(s["valueFrom"].startswith("reportc-env:") for s in container["secrets"])


def test_the_command_prints_both(make_project: MakeProject) -> None:
    root = make_project({"reports.yaml": SCHEDULED})
    env = {"SALES_CSV": "data/sales.csv", "REPORTC_IMAGE": "reg/reportc:7"}
    k8s = CliRunner(env=env).invoke(
        main, ["-C", str(root), "deploy", "--emit", "kubernetes", "--shards", "3"]
    )
    assert k8s.exit_code == 0, k8s.output
    docs = [d for d in yaml.safe_load_all(k8s.output) if d]
    assert [d["kind"] for d in docs] == ["Job", "Job", "CronJob"]
    assert docs[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "reg/reportc:7"
    batch = CliRunner(env=env).invoke(main, ["-C", str(root), "deploy", "--emit", "aws-batch"])
    assert batch.exit_code == 0, batch.output
    assert json.loads(batch.output)["submitBuild"]["arrayProperties"] == {"size": 4}


def test_the_shard_each_engine_assigns_is_the_one_its_definition_asks_for() -> None:
    """Index k of N (0-based, as Kubernetes and Batch count) is shard k+1/N."""
    seen = {reportc.Shard.parse("auto/5", {"JOB_COMPLETION_INDEX": str(k)}) for k in range(5)}
    assert {(s.index, s.count) for s in seen} == {(k, 5) for k in range(1, 6)}
    batch = {
        reportc.Shard.parse(
            "auto", {"AWS_BATCH_JOB_ARRAY_INDEX": str(k), "AWS_BATCH_JOB_ARRAY_SIZE": "8"}
        )
        for k in range(8)
    }
    assert {(s.index, s.count) for s in batch} == {(k, 8) for k in range(1, 9)}


def test_with_out_every_step_uses_the_s3_prefix(make_project: MakeProject) -> None:
    import kubernetes_validate

    project = _project(make_project)
    options = DeployOptions(image="x", shards=2, out="s3://reports-out/2026-10")
    objects = kubernetes_objects(project, options)
    for obj in objects[:2]:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        pod = obj["spec"]["template"]["spec"]
        for container in [*pod.get("initContainers", ()), *pod["containers"]]:
            assert container["args"][-2:] == ["--out", "s3://reports-out/2026-10"]
    defs = batch_definitions(project, options)
    _botocore("RegisterJobDefinition", defs["registerJobDefinition"])
    assert defs["registerJobDefinition"]["containerProperties"]["command"][-2:] == [
        "--out",
        "s3://reports-out/2026-10",
    ]
    assert defs["submitSend"]["containerOverrides"]["command"][-2:] == [
        "--out",
        "s3://reports-out/2026-10",
    ]
