"""The import command's arguments (credit/ingest/cli.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from credit.ingest import add_import_arguments


def test_import_arguments():
    parser = argparse.ArgumentParser()
    add_import_arguments(parser)
    args = parser.parse_args(["penalties", "x.csv", "--no-progress", "--batch-size", "500"])
    assert (args.kind, args.file, args.no_progress, args.batch_size) == (
        "penalties",
        Path("x.csv"),
        True,
        500,
    )
    assert args.rejects is None
    with pytest.raises(SystemExit):
        parser.parse_args(["fines", "x.csv"])
    with pytest.raises(SystemExit):
        parser.parse_args(["penalties", "x.csv", "--batch-size", "0"])
