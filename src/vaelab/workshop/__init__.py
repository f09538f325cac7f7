"""The workshop: what the course needs around the lesson, and a student does not have to read.

    runs        trained models in run folders: the config, the loop around ``training.train_epoch``,
                checkpoints and resuming, the cache keyed on the code (``code_fingerprint``), best_config
    datasets    a checked copy of Fashion-MNIST or MNIST in the data folder: mirrors, Debian's package,
                a download, checksums; Kaggle's CSV form
    device      choosing cuda, mps or the CPU, and their random states
    numeric     the reference CPU kernels that the exact regression check needs (set by the Makefile)
    check       the regression check's two tiers
    comparison  notebook 04's five variants under one budget, and their spread over seeds (make bench-priors)
    results     the report's tables and sentences (assets/metrics.json, results_table.md, insights.md)
    summary     a model's layers and parameters as tables
    classifier  the CNN whose features give the Fréchet distances
    explore     the decoders the report's Explore page runs in the browser
    exercises   the assignment's exercises; ``feedback`` checks them; ``assignment`` writes the student edition
    paths       where things live, files written whole, saving figures
    colab       the repository's address, the Colab badges and install cells
    timing      how long each notebook takes, measured by make report and written into the notebooks and README
    cli         the command line, ``python -m vaelab``

The workshop imports the lesson (``vaelab.models``, ``vaelab.training``, ...); the lesson never
imports the workshop.
"""
