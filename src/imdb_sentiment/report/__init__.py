"""Report: numbers to Markdown and figures. It renders what compare saved and knows nothing of
training; every table, percentage and interval goes through `markdown`.

It imports only the package root's helpers.
"""
