"""Data: archives in, prepared splits out, and the one text path.

`download` fetches and verifies the sources, `prepare` splits and encodes them, and `text` is
the only code that turns a text into tokens and ids, for training, evaluation and serving
alike. It imports only the package root's helpers (params, files, errors, ...).
"""
