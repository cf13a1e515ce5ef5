"""Call-backs and the monthly technician report (issue 13)."""
