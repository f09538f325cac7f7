"""Root conftest: it reaches notebooks/ too. nbval compares every code cell's outputs, but not
stderr (progress bars, warnings), which changes from run to run without changing any result."""


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr",)
