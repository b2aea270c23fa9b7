"""``reportc deploy --emit kubernetes|aws-batch``: definitions that run the build shards
and then the send step on an engine the user already operates. No scheduler or queue
of reportc's own: the engine runs the array, reportc only prints its definitions.

- **kubernetes**: an Indexed Job of N build shards (``--shard auto/N``), a Job for the
  send step (apply it once the build Job completes; with ``archive:`` an init container
  archives the shards' outputs as one run first), and for each scheduled report a
  CronJob whose init container builds and whose container sends. The project is
  mounted from a PersistentVolumeClaim at ``/project``; credentials come from a Secret
  as environment variables.
- **aws-batch**: a job definition (Fargate, the project on EFS at ``/project``,
  credentials from Secrets Manager), the array job's submission, and the send job's
  submission that depends on it.

The image is the repository's Dockerfile: its entrypoint is ``reportc``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from .config.model import Project
from .config.yamlpos import VAR_RE
from .schedule import CONTAINER_PROJECT

#: what ``reportc deploy --emit`` can print
TARGETS = ("kubernetes", "aws-batch")
#: the Kubernetes version the emitted objects are validated against (tests)
KUBERNETES_VERSION = "1.30"


@dataclass(frozen=True)
class DeployOptions:
    image: str
    shards: int = 4
    name: str = "reportc"
    namespace: str = ""
    #: Kubernetes: the Secret with the env file's variables; Batch: the Secrets Manager
    #: secret (ARN) holding them as JSON keys
    secret: str = "reportc-env"
    #: Kubernetes: the PersistentVolumeClaim holding the project (ReadWriteMany)
    volume_claim: str = "reportc-project"
    #: Batch: the job queue, the EFS file system holding the project, and the roles
    job_queue: str = "reportc"
    file_system: str = "fs-00000000"
    execution_role: str = "arn:aws:iam::ACCOUNT:role/reportc-batch-execution"
    job_role: str = "arn:aws:iam::ACCOUNT:role/reportc-batch-job"
    memory_mb: int = 2048
    vcpus: float = 1.0
    #: where the shards write and the later steps read (``--out``; '' : the project's dist/)
    out: str = ""


def _args(*command: str, out: str = "") -> list[str]:
    return ["-C", CONTAINER_PROJECT, *command, *(["--out", out] if out else [])]


def secret_names(project: Project) -> tuple[str, ...]:
    """The variables a run needs from the environment: those the project reads by name
    (SMTP credentials) and every ``${VAR}`` without a default in reports.yaml, sorted."""
    text = project.config_path.read_text("utf-8-sig")
    names = {m.group(1) for m in VAR_RE.finditer(text) if m.group(1) and m.group(2) is None}
    smtp = project.delivery.smtp
    if project.delivery.transport == "smtp" and smtp is not None:
        names |= {smtp.username_env, smtp.password_env}
    return tuple(sorted(names))


# ------------------------------------------------------------------------ kubernetes


def _container(o: DeployOptions, name: str, args: Sequence[str]) -> dict[str, Any]:
    return {
        "name": name,
        "image": o.image,
        "args": list(args),
        "envFrom": [{"secretRef": {"name": o.secret}}],
        "volumeMounts": [{"name": "project", "mountPath": CONTAINER_PROJECT}],
        "resources": {
            "requests": {"cpu": str(o.vcpus), "memory": f"{o.memory_mb}Mi"},
            "limits": {"memory": f"{o.memory_mb}Mi"},
        },
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
    }


def _pod(
    o: DeployOptions, containers: list[dict[str, Any]], init: list[dict[str, Any]]
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "securityContext": {"runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001},
        "containers": containers,
        "volumes": [{"name": "project", "persistentVolumeClaim": {"claimName": o.volume_claim}}],
    }
    if init:
        spec["initContainers"] = init
    return {"metadata": {"labels": {"app.kubernetes.io/name": o.name}}, "spec": spec}


def _meta(o: DeployOptions, name: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/name": o.name}}
    if o.namespace:
        meta["namespace"] = o.namespace
    return meta


def kubernetes_objects(project: Project, o: DeployOptions) -> list[dict[str, Any]]:
    shard = ("build", "--shard", f"auto/{o.shards}", "--no-archive")
    build = _container(o, "build", _args(*shard, out=o.out))
    # the shards' outputs are archived as one run before the send (with archive:)
    archive = [_container(o, "archive", _args("archive", out=o.out))] if project.archive else []
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": _meta(o, f"{o.name}-build"),
            "spec": {
                "completionMode": "Indexed",
                "completions": o.shards,
                "parallelism": o.shards,
                "backoffLimit": 2 * o.shards,
                "template": _pod(o, [build], []),
            },
        },
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": _meta(o, f"{o.name}-send"),
            "spec": {
                "backoffLimit": 0,
                "template": _pod(o, [_container(o, "send", _args("send", out=o.out))], archive),
            },
        },
    ]
    for name, report in project.personas.items():
        if report.schedule is None or not report.send:
            continue
        init = [_container(o, "build", _args("build", "--persona", name))]
        send = _container(o, "send", _args("send", "--persona", name))
        objects.append(
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "metadata": _meta(o, f"{o.name}-{name}".lower().replace("_", "-")[:52]),
                "spec": {
                    "schedule": report.schedule.cron,
                    "timeZone": report.schedule.timezone,
                    "concurrencyPolicy": "Forbid",
                    "jobTemplate": {"spec": {"backoffLimit": 0, "template": _pod(o, [send], init)}},
                },
            }
        )
    return objects


def emit_kubernetes(project: Project, o: DeployOptions) -> str:
    header = (
        f"# reportc on Kubernetes (validated against {KUBERNETES_VERSION}). Apply the build Job;\n"
        f"# when it completes (kubectl wait --for=condition=complete job/{o.name}-build),\n"
        f"# apply the send Job. Secret: kubectl create secret generic {o.secret} "
        "--from-env-file=repos.env\n"
    )
    docs = [yaml.safe_dump(obj, sort_keys=False) for obj in kubernetes_objects(project, o)]
    return header + "---\n" + "---\n".join(docs)


# ------------------------------------------------------------------------- aws batch


def batch_definitions(project: Project, o: DeployOptions) -> dict[str, Any]:
    secrets = [{"name": n, "valueFrom": f"{o.secret}:{n}::"} for n in secret_names(project)]
    definition = {
        "jobDefinitionName": o.name,
        "type": "container",
        "platformCapabilities": ["FARGATE"],
        "containerProperties": {
            "image": o.image,
            "command": _args("build", "--shard", "auto", "--no-archive", out=o.out),
            "environment": [{"name": "AWS_BATCH_JOB_ARRAY_SIZE", "value": str(o.shards)}],
            "secrets": secrets,
            "resourceRequirements": [
                {"type": "VCPU", "value": f"{o.vcpus:g}"},
                {"type": "MEMORY", "value": str(o.memory_mb)},
            ],
            "executionRoleArn": o.execution_role,
            "jobRoleArn": o.job_role,
            "volumes": [
                {
                    "name": "project",
                    "efsVolumeConfiguration": {
                        "fileSystemId": o.file_system,
                        "transitEncryption": "ENABLED",
                    },
                }
            ],
            "mountPoints": [{"sourceVolume": "project", "containerPath": CONTAINER_PROJECT}],
            "user": "10001",
        },
        "retryStrategy": {"attempts": 2},
        "timeout": {"attemptDurationSeconds": 3600},
    }
    build = {
        "jobName": f"{o.name}-build",
        "jobQueue": o.job_queue,
        "jobDefinition": o.name,
        "arrayProperties": {"size": o.shards},
    }

    def after(step: str, job: str) -> dict[str, Any]:
        return {
            "jobName": f"{o.name}-{step}",
            "jobQueue": o.job_queue,
            "jobDefinition": o.name,
            "dependsOn": [{"jobId": job}],
            "containerOverrides": {"command": _args(step, out=o.out)},
            "retryStrategy": {"attempts": 1},
        }

    out = {"registerJobDefinition": definition, "submitBuild": build}
    if project.archive:  # the shards' outputs archived as one run, then sent
        out["submitArchive"] = after("archive", "BUILD_JOB_ID")
        out["submitSend"] = after("send", "ARCHIVE_JOB_ID")
    else:
        out["submitSend"] = after("send", "BUILD_JOB_ID")
    return out


def emit_aws_batch(project: Project, o: DeployOptions) -> str:
    doc = {
        "_comment": (
            "aws batch register-job-definition --cli-input-json (registerJobDefinition); "
            "submit-job (submitBuild), then each later step (submitArchive, submitSend) "
            "with BUILD_JOB_ID / ARCHIVE_JOB_ID replaced by the id submit-job printed for "
            "the step before: a step starts when the one before (every shard) succeeded."
        ),
        **batch_definitions(project, o),
    }
    return json.dumps(doc, indent=2) + "\n"


def emit_deploy(project: Project, target: str, options: DeployOptions) -> str:
    """Definitions for ``target`` (kubernetes or aws-batch) that build in shards, then send."""
    if target == "kubernetes":
        return emit_kubernetes(project, options)
    if target == "aws-batch":
        return emit_aws_batch(project, options)
    raise ValueError(f"unknown deploy target '{target}'; use one of: {', '.join(TARGETS)}")
