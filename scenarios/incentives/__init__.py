"""信易游 / 信易租: venues and incentive policies (config/programmes.toml), eligibility, the
personal credit code, staff verification and redemption, offline venues, 信易租 applications and
reports."""
