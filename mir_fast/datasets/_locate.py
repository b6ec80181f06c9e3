"""Finding data files: user folders, environment variables, installed packages."""

import hashlib
import importlib.util
import os


class MissingDataError(FileNotFoundError):
    """A data set's files are not installed; the message says how to get them."""


def package_file(package, relative_path):
    """Path of a data file inside an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, relative_path)
        if os.path.isfile(path):
            return path
    return None


def folder_with(files, candidates):
    """The first of ``candidates`` (folders, ``None`` skipped) that holds every file."""
    for folder in candidates:
        if folder and all(os.path.isfile(os.path.join(folder, name)) for name in files):
            return folder
    return None


def md5(path):
    """Hex md5 digest of a file."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
