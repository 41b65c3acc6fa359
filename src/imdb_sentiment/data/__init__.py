"""Data: archives in, prepared splits out, and the one text path.

`download` fetches and verifies the sources, `prepare` splits and encodes them, `text` is
the only code that turns a text into tokens and ids, for training, evaluation and serving
alike, and `word_vectors` learns word vectors from the training split and unlabeled texts.
It imports only the package root's helpers (params, files, errors, ...).
"""
