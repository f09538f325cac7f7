class DataError(Exception):
    """A dataset that is missing, damaged or malformed. The message is one line that names the
    file and what is wrong with it (the error listing every way to get a dataset is the one
    exception: it lists them on separate lines)."""
