"""政务失信: citizens' reports about government bodies and public institutions that broke a
promise, their handling by the credit centre, and the agencies' public pages (issue 13)."""
