"""Staff-only dashboard pages (issue 6): batches, a batch's figures and charts, annotators, the review queue."""
