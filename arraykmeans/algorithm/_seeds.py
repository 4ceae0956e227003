"""Seeds of the problems of a batch: one scikit-learn-style integer seed each."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np


def batch_seeds(random_state: Any, n_problems: int) -> np.ndarray:
    """The seed of every problem of a batch, as scikit-learn-style integer seeds.

    Problem ``b`` of a batched fit draws its random numbers from
    ``numpy.random.RandomState(batch_seeds(random_state, B)[b])``, so
    ``KMeans(random_state=int(seeds[b]))`` reproduces it alone.

    Parameters
    ----------
    random_state : None, int, RandomState instance or sequence of ints
        - an int ``s``: ``numpy.random.SeedSequence(s).spawn(n_problems)``, each
          child giving one 32-bit seed (independent streams, reproducible);
        - None: the same from fresh operating-system entropy;
        - a ``RandomState``: four 32-bit words drawn from it seed the
          ``SeedSequence`` (the instance is advanced);
        - a sequence of ``n_problems`` ints in ``[0, 2**32)``: used as they are.
    n_problems : int

    Returns
    -------
    seeds : uint32 ndarray of shape (n_problems,)
    """
    if isinstance(random_state, np.random.RandomState):
        entropy = random_state.randint(0, 2**32, size=4, dtype=np.uint64)
        sequence = np.random.SeedSequence([int(e) for e in entropy])
    elif random_state is None or (
        isinstance(random_state, numbers.Integral)
        and not isinstance(random_state, bool)
    ):
        if random_state is not None and random_state < 0:
            raise ValueError(f"random_state must be non-negative, got {random_state}.")
        sequence = np.random.SeedSequence(random_state)
    elif (
        isinstance(random_state, Sequence)
        and not isinstance(random_state, (str, bytes))
    ) or (isinstance(random_state, np.ndarray) and random_state.ndim == 1):
        seeds = np.asarray(random_state)
        if seeds.shape != (n_problems,) or seeds.dtype.kind not in "iu":
            raise ValueError(
                f"random_state as a sequence must hold one int seed per problem "
                f"({n_problems}), got {random_state!r}."
            )
        if (seeds < 0).any() or (seeds >= 2**32).any():
            raise ValueError("random_state seeds must lie in [0, 2**32).")
        return seeds.astype(np.uint32)
    else:
        raise ValueError(
            f"{random_state!r} cannot be used to seed a batch: pass None, an int, a "
            "RandomState or one int per problem."
        )
    return _first_words_of_children(sequence, n_problems)


# The constants of NumPy's SeedSequence (O'Neill's seed_seq_fe hash): the
# multipliers of the two hash chains, of the mixing step and the shift.
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R, _SHIFT, _MASK = 0xCA01F9DD, 0x4973F715, 16, 0xFFFFFFFF


def _int_words(value: int) -> list[int]:
    """A non-negative int as little-endian 32-bit words (0 is one word)."""
    words = [value & _MASK]
    value >>= 32
    while value:
        words.append(value & _MASK)
        value >>= 32
    return words


def _first_words_of_children(sequence: np.random.SeedSequence, n: int) -> np.ndarray:
    """``[c.generate_state(1)[0] for c in sequence.spawn(n)]``, vectorised.

    Spawning builds one Python object per child and hashes its entropy in a
    Python-level loop (about 6 µs a child). :func:`_spawned_first_words` does
    the same hash for all children at once; the last child is checked against
    NumPy's on every call. Sequences it does not cover (a spawn key, earlier
    spawns, another pool size, non-int entropy) take NumPy's own path, as does
    a NumPy whose SeedSequence hashes otherwise.
    """
    entropy = sequence.entropy
    if isinstance(entropy, numbers.Integral):
        entropy = [entropy]
    if (
        sequence.pool_size == 4
        and len(sequence.spawn_key) == 0
        and sequence.n_children_spawned == 0
        and isinstance(entropy, Sequence)
        and all(isinstance(e, numbers.Integral) and e >= 0 for e in entropy)
        and 0 < n < 2**32
    ):
        words = [w for e in entropy for w in _int_words(int(e))]
        seeds = _spawned_first_words(words, n)
        check = np.random.SeedSequence(sequence.entropy, spawn_key=(n - 1,))
        if seeds[-1] == check.generate_state(1)[0]:
            return seeds
    return np.asarray(
        [child.generate_state(1)[0] for child in sequence.spawn(n)], dtype=np.uint32
    )


def _spawned_first_words(words: list[int], n: int) -> np.ndarray:
    """The first state word of children 0..n-1 of a sequence with entropy ``words``.

    The children share their entropy words and differ only in the last word
    of the assembled entropy (the spawn index), so the hash of the shared
    words runs once on Python ints and only the final round runs over all
    children at once, in uint64 reduced modulo 2**32.
    """
    words = words + [0] * (4 - len(words))  # padded to the pool: a key follows
    hash_const = _INIT_A

    def hashmix(value: Any) -> Any:
        nonlocal hash_const
        value = value ^ hash_const
        hash_const = (hash_const * _MULT_A) & _MASK
        value = (value * hash_const) & _MASK
        return value ^ (value >> _SHIFT)

    def mix(x: Any, y: Any) -> Any:
        result = (_MIX_L * x - _MIX_R * y) & _MASK
        return result ^ (result >> _SHIFT)

    pool = [hashmix(words[i]) for i in range(4)]
    for src in range(4):
        for dst in range(4):
            if src != dst:
                pool[dst] = mix(pool[dst], hashmix(pool[src]))
    for word in words[4:]:
        for dst in range(4):
            pool[dst] = mix(pool[dst], hashmix(word))
    # The spawn index mixed into the first pool word, the only one that
    # generate_state(1) reads.
    first = mix(np.uint64(pool[0]), hashmix(np.arange(n, dtype=np.uint64)))
    value = ((first ^ _INIT_B) * ((_INIT_B * _MULT_B) & _MASK)) & _MASK
    return (value ^ (value >> _SHIFT)).astype(np.uint32)
