"""``reportc preview``: serve the reports on 127.0.0.1, rebuilt on every change."""

from __future__ import annotations

import datetime as dt
import signal
from pathlib import Path

import click

import reportc

from .common import Settings, pass_settings, period_option


@click.command(name="preview")
@click.option(
    "--port",
    type=click.IntRange(min=0, max=65535),
    default=8765,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free port).",
)
@click.option(
    "--rebuild-timeout",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="Seconds a rebuild may take before it is stopped and shown as a problem.",
)
@period_option
@pass_settings
def command(settings: Settings, port: int, rebuild_timeout: float, period: str | None) -> None:
    """Serve the reports on 127.0.0.1 and rebuild them whenever a file changes.

    HTML, PDF and email views; the browser page reloads after each rebuild, and a
    problem (with its file:line:col) is shown in the page instead of stopping.
    Nothing is written to dist/ and nothing is sent.
    """
    root = settings.directory.resolve()
    extra = (Path(settings.env_file).resolve(),) if settings.env_file else ()

    def log(message: str) -> None:
        click.echo(f"{dt.datetime.now():%H:%M:%S} {message}", err=True)

    state = reportc.Preview(
        root,
        lambda: settings.load(period),
        extra_files=extra,
        log=log,
        rebuild_seconds=rebuild_timeout,
    )
    try:
        server = reportc.PreviewServer(state, port)
    except OSError as exc:
        raise reportc.ReportcError(
            reportc.Problem(
                f"cannot listen on 127.0.0.1:{port}: {exc.strerror}", hint="try --port 0"
            )
        ) from exc
    click.echo(f"Preview on {server.url}  (Ctrl-C to stop)")
    # Ctrl-C stops the preview even when it was started with SIGINT ignored (a shell
    # script's background job inherits that), as a foreground server should.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.httpd.server_close()
