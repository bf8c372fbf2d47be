"""Credit reports (信用报告, issue 13): issued to a subject, verifiable by anyone."""
