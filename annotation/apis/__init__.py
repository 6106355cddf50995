"""REST API: one view per operation. A view validates input, calls one service or selector, serialises output."""
