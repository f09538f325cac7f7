"""vaelab: the package behind the VAE course notebooks.

Modules: ``data`` (datasets, integrity checks, CSV, split), ``models``, ``losses``, ``train``,
``evaluate``, ``latent``, ``results``, ``classifier``, ``plots``, ``device`` (where the work
runs), ``numeric`` (the CPU kernels, chosen here at import), ``check`` (the regression check's
tiers), ``colab`` (the repository's address and the Colab links), ``cli`` (``python -m vaelab``).
"""

from vaelab import numeric as _numeric

__version__ = "0.1.0"

_numeric.apply_defaults()
