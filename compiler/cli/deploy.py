"""``reportc deploy --emit kubernetes|aws-batch``: print the definitions that build the
reports in shards on an engine you already run, then send them."""

from __future__ import annotations

import os

import click

import reportc

from .common import Settings, pass_settings


@click.command(name="deploy")
@click.option(
    "--emit",
    "target",
    type=click.Choice(("kubernetes", "aws-batch")),
    required=True,
    help="Kubernetes objects (YAML) or AWS Batch definitions (JSON).",
)
@click.option(
    "--image",
    default=lambda: os.environ.get("REPORTC_IMAGE", f"reportc:{reportc.reportc_version()}"),
    show_default="REPORTC_IMAGE, else reportc:<version>",
    help="The container image built from the Dockerfile.",
)
@click.option(
    "--shards",
    type=click.IntRange(min=1, max=10000),
    default=4,
    show_default=True,
    help="How many build shards run at once (--shard auto/N in each).",
)
@click.option("--namespace", default="", help="Kubernetes namespace (default: none).")
@click.option(
    "--secret",
    default="reportc-env",
    show_default=True,
    help="Kubernetes: the Secret with the env file's variables. Batch: the ARN of the "
    "Secrets Manager secret holding them as JSON keys.",
)
@click.option(
    "--volume-claim",
    default="reportc-project",
    show_default=True,
    help="Kubernetes: the ReadWriteMany PersistentVolumeClaim holding the project.",
)
@click.option("--job-queue", default="reportc", show_default=True, help="Batch: the job queue.")
@click.option(
    "--file-system",
    default="fs-00000000",
    show_default=True,
    help="Batch: the EFS file system holding the project.",
)
@click.option(
    "--out",
    default="",
    metavar="s3://BUCKET/PREFIX",
    help="Where the shards write and the archive and send steps read (default: dist/ on "
    "the project's volume).",
)
@pass_settings
def command(
    settings: Settings,
    target: str,
    image: str,
    shards: int,
    namespace: str,
    secret: str,
    volume_claim: str,
    job_queue: str,
    file_system: str,
    out: str,
) -> None:
    """Print definitions that build the reports in shards, then send them.

    Nothing is submitted: apply or submit what this prints. The project is mounted at
    /project in the image (see the Dockerfile).
    """
    project = settings.load()
    options = reportc.DeployOptions(
        image=image,
        shards=shards,
        namespace=namespace,
        secret=secret,
        volume_claim=volume_claim,
        job_queue=job_queue,
        file_system=file_system,
        out=out,
    )
    click.echo(reportc.emit_deploy(project, target, options), nl=False)
