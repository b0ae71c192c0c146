"""Bank statements (camt.052/053/054, MT940) read into ``StatementLine``s."""
