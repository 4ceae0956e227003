"""Types for annotating code that uses arraykmeans (see ``examples/typed_usage.py``).

``Array``: what the estimators return (an array of the input's library);
``ArrayLike``: what they take as data; ``SampleWeight``: sample weights.
"""

from ._typing import Array, ArrayLike, DataFrameLike, SampleWeight

__all__ = ["Array", "ArrayLike", "DataFrameLike", "SampleWeight"]
