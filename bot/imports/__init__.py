"""CSV imports: the runner that creates each row at the provider's pace, exactly once, its
progress message and its result file. The forms' side (reading and checking a file, the
modal) is ``handlers/forms/csv_import.py``."""
