"""The landing area and what it holds: which files are sales (schema.py names the columns and the checks),
what format each file is and its raw cells (formats.py), which rows are good (validation.py), and where files
that cannot be read go (area.py: listing, quarantine, the index of which weeks each file holds)."""
