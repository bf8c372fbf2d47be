"""The monthly 调度 figures (issue 14 item 3, plan §3.3 table 1): counts across the credit store
and the scenarios, aggregated in the database, as tables, inline SVG charts, CSV and XLSX."""
