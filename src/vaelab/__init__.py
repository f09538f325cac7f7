"""vaelab: the package behind the VAE course notebooks.

Modules: ``data`` (datasets, integrity checks, CSV, split), ``plots`` (figures for ``assets/``),
``cli`` (``python -m vaelab``).
"""

__version__ = "0.1.0"
