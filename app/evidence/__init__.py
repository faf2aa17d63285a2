"""Evidence attached to events: photos of receipts and hold notices, and PDFs (issue 15)."""
