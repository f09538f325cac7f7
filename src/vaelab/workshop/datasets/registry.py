"""The two datasets the course uses: their files, the checksums of the originals, where Debian puts them."""

from __future__ import annotations

from dataclasses import dataclass

from vaelab.data import DATASETS as TORCHVISION
from vaelab.data import DataError

# The four IDX files of each dataset (uncompressed names), with the item count each must hold.
FILES = {
    "train-images-idx3-ubyte": 60_000,
    "train-labels-idx1-ubyte": 60_000,
    "t10k-images-idx3-ubyte": 10_000,
    "t10k-labels-idx1-ubyte": 10_000,
}


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # our name, used on the command line and in file names
    torchvision_class: type  # the torchvision dataset class that reads it
    md5: dict  # uncompressed file name -> MD5 of the original file's content
    debian_dirs: tuple = ()  # where a Debian/Ubuntu package installs it
    debian_package: str | None = None

    @property
    def classes(self) -> list[str]:
        return list(self.torchvision_class.classes)

    @property
    def folder(self) -> str:
        """Folder under the data dir, as torchvision names it (``FashionMNIST``, ``MNIST``)."""
        return self.torchvision_class.__name__


DATASETS = {
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist",
        torchvision_class=TORCHVISION["fashion-mnist"],
        md5={
            "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
            "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
            "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
        },
        debian_dirs=("/usr/share/datasets/fashion-mnist",),
        debian_package="dataset-fashion-mnist",
    ),
    "mnist": DatasetInfo(
        name="mnist",
        torchvision_class=TORCHVISION["mnist"],
        md5={
            "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
            "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
            "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
            "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
        },
    ),
}


def get(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}") from None
