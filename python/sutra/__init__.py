"""Sutra: text embeddings (dense, sparse, multi-vector) and rerank scores from the models people
deploy, exact to sentence-transformers, on the CPU and NVIDIA GPUs.

    import sutra
    model = sutra.Embedder("all-MiniLM-L6-v2")
    vectors = model.encode(["A man is playing a guitar.", "Someone plays guitar."])

The package calls libsutra (the C library this repository builds) through ctypes; `pip install .`
builds the library with CMake and puts it inside the package.
"""

from ._embedder import (Embedder, ModelError, SutraError, SutraValueError, UnsupportedError, library, models_dir,
                        resolve)

__version__ = "0.3.0"


def library_version() -> str:
    """The version of the libsutra in use."""
    return library().sutra_version().decode()


__all__ = ["Embedder", "SutraError", "SutraValueError", "ModelError", "UnsupportedError", "library",
           "library_version", "models_dir", "resolve", "__version__"]
