"""``kubeai images list --stack S``: every image a platform stack deploys and its mirror copy.

A thin front of ``infra.images.main`` (the one place that renders the stack, expands every
upstream release and overlay and maps each image to ``kubeai:images.registry``), for an
air-gapped install: the list is what to copy into the mirror (``crane copy``, ``skopeo copy``).
Exit status: 0 listed, 2 bad input (no such stack, not a platform stack, bad config).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Images of the platform and their registry-mirror copies.")


@app.command("list")
def list_images(
    stack: Annotated[str, typer.Option("--stack", "-s", help="Platform stack name.")],
    registry: Annotated[
        str | None, typer.Option(help="Mirror to map to (default: kubeai:images.registry).")
    ] = None,
    stacks_dir: Annotated[
        Path | None, typer.Option(help="Folder of Pulumi.<stack>.yaml (default: stacks/).")
    ] = None,
    pairs: Annotated[bool, typer.Option(help="Print source<TAB>mirror lines.")] = False,
) -> None:
    """Print ``source -> mirror`` for every image the stack deploys."""
    from infra.images import main

    argv = ["--stack", stack, "--format", "pairs" if pairs else "arrows"]
    if registry is not None:
        argv += ["--registry", registry]
    if stacks_dir is not None:
        argv += ["--stacks-dir", str(stacks_dir)]
    code = main(argv)
    if code:
        raise typer.Exit(code)
