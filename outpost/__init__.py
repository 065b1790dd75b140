"""The application: the composition root (`app.py`) and the front doors (`cli/`, and the web).

The only package that wires the engine (`workflow/`), the processes (`machines/`), persistence (`store/`)
and mail (`notifications/`) together; nothing below imports it.
"""
