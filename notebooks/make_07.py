"""Write notebooks/07_beyond_the_standard_prior.ipynb (its cells, unexecuted): run once, then
`make notebooks` executes it. Kept beside the notebook so its text can be reviewed as code."""

import nbformat as nbf

md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell

cells = [
    md("""# 07 · Beyond the standard prior: learned priors and a second layer of latents

Every model so far draws its codes from the same prior, $p(z) = \\mathcal N(0, I)$, and has one layer of latents.
This notebook asks a student's next two questions, and measures the answers:

1. **Why $\\mathcal N(0, I)$?** Part of the KL term pays for a mismatch between the prior and where the encoder
   actually puts the codes. A *learned* prior (a mixture of Gaussians, or the VampPrior) shrinks that part.
2. **What does a hierarchy buy?** A second layer of latents, $z_2 \\to z_1 \\to x$, gives the model a
   prior over $z_1$ that is itself learned and depends on $z_2$.

Each variant trains under the same budget, and a table gives the gains in −ELBO, importance-sampled NLL, KL,
active units and Fréchet distance against the N(0, I) model of the same size."""),
    code("""# Parameters (papermill)
dataset = "fashion-mnist"  # or "mnist"
seed = 0
device = "auto"  # "auto": VAELAB_DEVICE if set, else cuda, then mps, then cpu (make sets cpu)
epochs = 10  # the shared budget of section 4: epochs of every variant
latent_dim = 20  # latent dimensions of every variant (the hierarchical VAE: 10 + 10)
components = 100  # mixture components, or VampPrior pseudo-inputs""", metadata={"tags": ["parameters"]}),
    code("""%matplotlib inline
import inspect

import pandas as pd
import torch
from IPython.display import Markdown

from vaelab import data, evaluate, models, plots, priors, results, train

pd.options.display.width = 200
tensors = train.split_tensors(dataset)
labels = {name: y for name, (_, y) in data.load_split(dataset).items()}
show = lambda obj: Markdown(f"```python\\n{inspect.getsource(obj)}```")  # the package's own lines"""),
    md("""## 1. Why $\\mathcal N(0, I)$ wastes capacity

Averaged over the training images, the KL term of the ELBO splits in two (Hoffman & Johnson 2016, "ELBO surgery"):

$$
\\mathbb E_x\\, \\mathrm{KL}\\big(q(z|x)\\,\\|\\,p(z)\\big) \\;=\\; I_q(x; z) \\;+\\; \\mathrm{KL}\\big(q(z)\\,\\|\\,p(z)\\big),
\\qquad q(z) = \\frac1N \\sum_n q(z|x_n).
$$

$I_q(x; z)$ is the information the codes carry about the images: what the decoder needs. $q(z)$, the
**aggregate posterior**, is where the encoder puts the codes of all images together; the second term is what the
model pays only because the prior puts its mass somewhere else. It is zero for one prior only: $p(z) = q(z)$.

The 2-D VAE of notebook 04 shows it: its codes (a draw $z \\sim q(z|x)$ for each test image) against the prior's
density."""),
    code("""two_d = train.train(train.TrainConfig(dataset=dataset, model="vae", latent_dim=2, epochs=10, seed=seed, device=device))
gap = evaluate.prior_gap(two_d.model, tensors["test"], seed=seed)
print(f"2-D VAE, test images: KL term {gap['kl']:.2f} nats = information {gap['mutual_information']:.2f} "
      f"+ prior mismatch {gap['marginal_kl']:.2f}")
codes = evaluate.sample_posterior(two_d.model, tensors["test"], seed=seed)
log_prior = lambda z: priors.mixture_log_prob(torch.as_tensor(z), *(t.double() for t in two_d.model.prior_components()))
fig = plots.aggregate_posterior(codes, labels["test"], data.classes(dataset), log_prior,
                                title=f"{plots.dataset_name(dataset)}: codes of the test images against the prior N(0, I)")
plots.save_figure(fig, f"07_aggregate_posterior_{dataset}")"""),
    md("""The codes fill the prior's disc unevenly: dense clusters, and regions where the prior has mass and no image
has its code. Samples drawn from there decode to images that are none of the classes, and every code pays the
mismatch in nats. The estimate above uses a mixture of the 10,000 test posteriors for $q(z)$ (`evaluate.prior_gap`).

## 2. Learned priors

Two ways to move the prior towards $q(z)$, both mixtures of $K$ diagonal Gaussians, both learned with the VAE by
the same gradient steps:

* **A mixture of Gaussians** (MoG): $p_\\lambda(z) = \\sum_k w_k\\, \\mathcal N(z; m_k, \\mathrm{diag}\\, s_k^2)$, with
  $K$ means, variances and weights as parameters.
* **The VampPrior** (Tomczak & Welling 2018): the mixture of the encoder's own posteriors at $K$ learned
  *pseudo-inputs* $u_k$, $p_\\lambda(z) = \\frac1K \\sum_k q(z|u_k)$. If the $u_k$ were all the training images it
  would *be* $q(z)$; $K$ learned images approximate it, and the prior follows the encoder as it trains.

Every prior in `vaelab.priors` describes itself by its components, and one function gives its density:"""),
    code("""show(priors.mixture_log_prob)"""),
    code("""show(priors.VampPrior)"""),
    md("""**The KL is no longer analytic.** Between two Gaussians the KL has a closed form; between a Gaussian and a
mixture it does not. The loss estimates it by Monte Carlo with the very $z$ the decoder saw:
$\\mathrm{KL} \\approx \\log q(z|x) - \\log p_\\lambda(z)$ for $z \\sim q(z|x)$, an unbiased estimate whose average over a batch
is the KL in expectation. That is `elbo_terms` of every model:"""),
    code("""show(models.Model.elbo_terms)"""),
    md("""## 3. A second layer of latents

The two-layer VAE here is Tomczak & Welling's (2018):

$$
p(x, z_1, z_2) = p(z_2)\\, p(z_1|z_2)\\, p(x|z_1, z_2), \\qquad q(z_1, z_2|x) = q(z_2|x)\\, q(z_1|x, z_2),
$$

$$
-\\mathrm{ELBO} = \\mathbb E_q\\big[-\\log p(x|z_1, z_2)\\big]
+ \\mathbb E_{q(z_2|x)}\\, \\mathrm{KL}\\big(q(z_1|x, z_2)\\,\\|\\,p(z_1|z_2)\\big)
+ \\mathrm{KL}\\big(q(z_2|x)\\,\\|\\,p(z_2)\\big).
$$

Why this one: in the plain chain $z_2 \\to z_1 \\to x$ with $q(z_1|x)\\, q(z_2|z_1)$ the top layer mostly
collapses (Burda et al. 2016 count few active units there), because $z_1$ alone can explain $x$. Letting the
decoder see both layers, and the inference of $z_1$ see $z_2$, keeps both in use at the cost of two small
networks. A ladder VAE (Sønderby et al. 2016) shares more between inference and generation; it is more code for
a gain that, at this size, the literature does not show. The prior over $z_1$ is now learned: a Gaussian whose
mean and variance an MLP computes from $z_2$. The middle KL is exact given the drawn $z_2$:"""),
    code("""show(models.HierarchicalVAE.elbo_terms)"""),
    md("""## 4. The same budget for every variant

Five models with the layers of the deep MLP VAE (1024 and 512 units, SiLU), the same latent size, the same recipe
(learning rate 2e-3 with a cosine decay, a KL warm-up over the first epochs) and the same number of epochs. Only the
prior and the number of layers differ. (On 2 CPU cores this cell trains for several minutes, once; later runs
reuse `runs/`.)"""),
    code("""recipe = dict(dataset=dataset, latent_dim=latent_dim, epochs=epochs, lr=2e-3, schedule="cosine",
              warmup_epochs=min(5, epochs / 2), seed=seed, device=device)
variants = {"N(0, I)": dict(model="deep-vae"), "MoG prior": dict(model="deep-vae", prior="mog", components=components),
            "VampPrior": dict(model="deep-vae", prior="vamp", components=components), "two layers": dict(model="hvae"),
            "two layers + VampPrior": dict(model="hvae", prior="vamp", components=components)}
runs = {name: train.train(train.TrainConfig(**recipe, **kw)) for name, kw in variants.items()}
pd.DataFrame({name: {"model": r.config.model, "prior": r.config.prior, "epochs": r.config.epochs,
                     "parameters": r.metrics["parameters"], "minutes": round(sum(h["wall_seconds"] for h in r.history) / 60, 1)}
              for name, r in runs.items()}).T"""),
    code("""ctx = results.Context.build(dataset, seed=seed, device=device)
rows = [results.model_row(name, run, ctx) for name, run in runs.items()]
table = pd.DataFrame({r["name"]: {"−ELBO": r["test_neg_elbo"], "recon": r["test_recon"], "KL": r["test_kl"],
                                  "NLL (k=500)": r["iw_nll"], "FD prior": r["fd_prior"],
                                  "active units": r["active_units"]} for r in rows}).T.astype(float)
table["gain in NLL"] = table.loc["N(0, I)", "NLL (k=500)"] - table["NLL (k=500)"]
table["active per layer"] = [" + ".join(str(n) for n in r["active_units_by_layer"].values()) for r in rows]
table.round(2)"""),
    md("""−ELBO and KL: the test set (10,000 images; for a learned prior the KL is the Monte Carlo estimate, one draw
per image). NLL: the importance-sampled bound, k = 500, on the fixed 1,000-image subset of notebook 06, under each
model's own prior. FD prior: Fréchet distance of 10,000 samples drawn from the model's prior, in the classifier's
features. "gain in NLL": nats below the N(0, I) model, on the same images."""),
    code("""gaps = {name: evaluate.prior_gap(run.model, tensors["test"], seed=seed)
        for name, run in runs.items() if run.config.model != "hvae"}
pd.DataFrame(gaps).T.round(2)"""),
    md("""The learned priors leave the information in the codes about where it was and cut the mismatch term: that is
where their nats come from.

## 5. Samples from each prior

64 codes from each model's own prior, decoded (for the two-layer models: $z_2 \\sim p(z_2)$, then
$z_1 \\sim p(z_1|z_2)$)."""),
    code("""fig, axes = plots.figure("grid", 2, 3)
for ax, (name, run) in zip(axes.flat, runs.items()):
    plots.image_grid(evaluate.sample_prior(run.model, 36, seed=seed), ncols=6, ax=ax, title=name)
axes.flat[-1].axis("off")
fig.suptitle(f"{plots.dataset_name(dataset)}: samples from each model's prior")
plots.save_figure(fig, f"07_prior_samples_{dataset}")"""),
    md("""The VampPrior's pseudo-inputs are images the model learned (they start as flat grey); the first 36 of them:"""),
    code("""vamp = runs["VampPrior"].model
pseudo = vamp.prior.images().detach().cpu()
fig, ax = plots.figure("square")
plots.image_grid(pseudo[:36], ncols=6, ax=ax, title="VampPrior: the first 36 pseudo-inputs")
plots.save_figure(fig, f"07_pseudo_inputs_{dataset}")"""),
    md("""## 6. The course's best VAE

`train.best_config` is chosen on the validation images among these variants at the full budget (at most 12
minutes on 2 CPU cores); its docstring has the runs behind the choice. Notebooks 04–06 use it."""),
    code("""print(inspect.getdoc(train.best_config))"""),
]

nb = nbf.v4.new_notebook(cells=cells, metadata={
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"}})
nbf.write(nb, "notebooks/07_beyond_the_standard_prior.ipynb")
