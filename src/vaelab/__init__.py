"""vaelab: the package behind the VAE course's notebooks, on two floors.

The lesson, what a student reads (each module one idea, in the order the notebooks teach it):

    data       the images as tensors: Fashion-MNIST or MNIST, the saved train/validation split
    gaussian   the Gaussian formulas, each written once: z = mu + sigma * eps, the KL, log-densities
    models     the VAE of pytorch/examples, the autoencoder, the conv and deep MLP VAEs, two layers
    losses     the negative ELBO: reconstruction + KL, in nats per image; the KL warm-up
    training   the training step: batches, the loss, backward, the optimiser's step
    bounds     the -ELBO of a test set and the importance-sampled bound on -log p(x)
    priors     learned priors: a mixture of Gaussians and the VampPrior
    latent     codes to look at: embeddings, grids, traversals, interpolations, decoding
    evaluate   what the codes carry: active units, KL per dimension, probes, Fréchet distance
    plots      the figures

The workshop, ``vaelab.workshop``: what the course needs around the lesson and a student does not
have to read: trained runs and their cache (``runs``), devices, CPU kernels and the regression
check, getting the data (``datasets``), the report's tables, the explorer's export, Colab and the
command line (``python -m vaelab``). No module of the lesson imports the workshop.

Importing ``vaelab`` sets nothing in the process (no environment variable of its own, no thread
count, no random state): the reference CPU kernels are the Makefile's (``workshop/numeric.py``).
"""

__version__ = "0.1.0"
