"""Import of the league public credit information platform's files (双公示 行政处罚 / 行政许可,
红黑名单, 荣誉称号) into the credit store; see DESIGN.md §3 and tests/data/README.md."""

from credit.ingest.cli import add_import_arguments, run_import
from credit.ingest.importer import ImportSummary, import_file
from credit.ingest.mapping import KINDS
from credit.ingest.reader import ImportRefused

__all__ = [
    "KINDS",
    "ImportRefused",
    "ImportSummary",
    "add_import_arguments",
    "import_file",
    "run_import",
]
