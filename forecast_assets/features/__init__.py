"""Features: the window features of every product and forecast origin, and the pipeline that computes them."""
