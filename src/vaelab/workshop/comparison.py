"""The prior comparison of notebook 04: five variants of the deep MLP VAE under one budget.

Only the prior, the number of latent layers and, in one, free bits differ; the rest is one recipe
(a learning rate of 2e-3 with a cosine decay, a KL warm-up over the first half of the epochs).
Notebook 04 trains them with one seed, ``benchmarks/prior_seeds.py`` (``make bench-priors``) with
several, and notebook 07 measures them with the importance-sampled bound."""

from __future__ import annotations

import pandas as pd

from vaelab.workshop import paths, runs

EPOCHS = 3  # the short budget: the notebook runs in minutes (runs.best_config trains 45)
LATENT_DIM = 20  # every variant's latent size (the two-layer VAE: 10 + 10)
COMPONENTS = 100  # mixture components, or VampPrior pseudo-inputs

VARIANTS = {
    "N(0, I)": dict(model="deep-vae"),
    "N(0, I), free bits": dict(model="deep-vae", free_bits=0.5),
    "MoG prior": dict(model="deep-vae", prior="mog"),
    "VampPrior": dict(model="deep-vae", prior="vamp"),
    "two layers": dict(model="hvae"),
}


def configs(dataset: str, seed: int = 0, device: str = "auto", epochs: int = EPOCHS, latent_dim: int = LATENT_DIM,
            components: int = COMPONENTS) -> dict[str, runs.TrainConfig]:
    """The five variants' training configs, by name, in the order of ``VARIANTS``."""
    recipe = dict(dataset=dataset, latent_dim=latent_dim, epochs=epochs, lr=2e-3, schedule="cosine",
                  warmup_epochs=min(5, epochs / 2), seed=seed, device=device)
    return {name: runs.TrainConfig(**recipe, **variant, **({"components": components} if "prior" in variant else {}))
            for name, variant in VARIANTS.items()}


def seed_results(dataset: str) -> dict:
    """What ``make bench-priors`` measured for ``dataset`` (``benchmarks/results/prior_seeds_<dataset>.json``)."""
    content = paths.benchmark_result(f"prior_seeds_{dataset}.json", "bench-priors", "prior_seeds.py")
    if set(content.get("summary", {})) != set(VARIANTS):
        raise ValueError(f"benchmarks/results/prior_seeds_{dataset}.json: its variants are not {', '.join(VARIANTS)}; "
                         f"run `make bench-priors` again")
    return content


def seed_table(dataset: str) -> pd.DataFrame:
    """The variants over training seeds: mean ± standard deviation of the test −ELBO and of the
    importance-sampled NLL (notebook 07), and each one's gain over the N(0, I) model of the same
    seed, with the smallest and largest gain over the training seeds."""
    content = seed_results(dataset)
    pm = lambda entry: f"{entry['mean']:.2f} ± {entry['sd']:.2f}"
    span = lambda entry: f"{entry['min']:+.2f} to {entry['max']:+.2f}"
    rows = {name: {"−ELBO": pm(s["test_neg_elbo"]), "gain in −ELBO": pm(s["gain_test_neg_elbo"]),
                   "−ELBO gain, smallest to largest": span(s["gain_test_neg_elbo"]), "NLL (k=500)": pm(s["iw_nll"]),
                   "gain in NLL": pm(s["gain_iw_nll"]), "NLL gain, smallest to largest": span(s["gain_iw_nll"]),
                   "active units": f"{s['active_units']['mean']:.1f}"}
            for name, s in content["summary"].items()}
    return pd.DataFrame(rows).T


def gains_that_held(dataset: str) -> str:
    """One sentence: which variants beat N(0, I) in the NLL with every seed, which fell behind it
    with every seed, and which went either way."""
    content = seed_results(dataset)
    gains = {name: s["gain_iw_nll"] for name, s in content["summary"].items() if name != "N(0, I)"}
    listed = lambda names: ", ".join(f"{n} ({gains[n]['min']:+.2f} to {gains[n]['max']:+.2f})" for n in names) or "none"
    ahead = [name for name, g in gains.items() if g["min"] > 0]
    behind = [name for name, g in gains.items() if g["max"] < 0]
    either = [name for name in gains if name not in ahead + behind]
    seeds = ", ".join(str(s) for s in content["seeds"])
    return (f"Over seeds {seeds} ({content['epochs']} epochs each, {content['date']}), NLL gain over N(0, I), smallest to "
            f"largest: ahead with every seed: {listed(ahead)}; behind with every seed: {listed(behind)}; "
            f"either way: {listed(either)}.")
