"""The K-means algorithm, written once against the Array API standard.

Modules: :mod:`._frame` (the centred, rescaled copy the algorithm works on),
:mod:`._init` (k-means++ and random seeding, one problem or a stack),
:mod:`._lloyd` (Lloyd's loop with scikit-learn's stopping rules),
:mod:`._batched_lloyd` (the same loop over a stack of problems),
:mod:`._relocate` (empty clusters), :mod:`._seeds` (seeds of a batch).

Everything here uses ``xp.*`` functions and the methods of the backend object
it is handed (:func:`arraykmeans.backends.get_backend`); nothing asks which
library it runs on.
"""
