"""The frame the algorithm works in: the data centred, and rescaled if needed.

The algorithm never sees the caller's X: it works on ``X * scale - mean`` (a
private copy), where ``scale`` is a power of two that brings the data's
largest magnitude near 1 when it is far from it. Centring is what scikit-learn
does (it makes the expanded distance ``‖c‖² − 2x·c`` accurate); the power of
two is exact, so that results in the caller's units are those of the unscaled
computation, and keeps squared distances of data near the ends of the float
range finite.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .. import _validation as val
from ..backends import StandardBackend, ceil_log2

Array = Any

# Data whose largest magnitude lies outside [2**-_SCALE_EXP, 2**_SCALE_EXP] is
# rescaled by a power of two before fitting, so that squared distances neither
# overflow nor underflow (float32 squares overflow past about 1.8e19). Powers of
# two scale exactly: inside that range nothing is rescaled and results are
# bit-for-bit those of the unscaled computation.
_SCALE_EXP = 40


@dataclass
class Frame:
    """Where the algorithm works: ``X * scale - mean``, scale a power of two.

    ``mean`` is in the frame's units. Scaling before centring keeps the frame
    finite for any finite X (``X - mean`` in X's units overflows for data
    spanning -1e308 to 1e308), and both ``scale`` and ``unit = 1 / scale`` are
    normal numbers of X's dtype (see :func:`power_of_two_scale`), so that
    neither scaling nor its undoing overflows.
    """

    mean: Array
    scale: float

    @property
    def unit(self) -> float:
        """One unit of the frame in X's units: ``1 / scale``, exact."""
        return 1.0 / self.scale

    def apply(self, xp: ModuleType, X: Array) -> Array:
        out = X * self.scale if self.scale != 1.0 else X
        return out - self.mean

    def undo(self, xp: ModuleType, C: Array) -> Array:
        out = C + self.mean
        return out * self.unit if self.scale != 1.0 else out

    def squared(self, value: float) -> float:
        """A squared distance of the frame (an inertia) in X's units, a float.

        Two products by the unit, not one by its square, which may not be
        representable: the result overflows to inf only where the value itself
        does not fit a float64, and underflows to 0 only where it is below the
        smallest one.
        """
        value = float(value)
        return value if self.scale == 1.0 else value * self.unit * self.unit


def power_of_two_scale(amax: float, dtype: Any, xp: ModuleType) -> float:
    """The power of two that brings X's largest magnitude ``amax`` near 1.

    1 when ``amax`` lies within [2**-_SCALE_EXP, 2**_SCALE_EXP] (or is 0).
    Otherwise 2**-ceil(log2(amax)), its exponent clamped so that the scale and
    its inverse are normal numbers of ``dtype``: for float64 data near 1e308
    the exact scale 2**-1024 would have an inverse that overflows, and for
    subnormal data (5e-324 is 2**-1074) the scale itself would. Scaled data
    then stay below 4 in magnitude at the top of the range and reach at least
    2**-52 (float64) or 2**-23 (float32) at the bottom, where their squares are
    far from underflowing.
    """
    if amax == 0 or 2.0**-_SCALE_EXP <= amax <= 2.0**_SCALE_EXP:
        return 1.0
    # The largest exponent e with 2**e and 2**-e both normal: 126 for
    # float32, 1022 for float64.
    limit = -ceil_log2(float(xp.finfo(dtype).smallest_normal))
    exponent = min(max(-ceil_log2(amax), -limit), limit)
    return 2.0**exponent


def prepare(be: StandardBackend, X: Array, amax: float) -> tuple[Array, Frame, Array]:
    """Centre (and if needed rescale) a private copy of X; X itself is untouched.

    ``amax`` is X's largest magnitude (read once by ``fit``, together with the
    finiteness check).
    """
    xp = be.xp
    scale = power_of_two_scale(amax, X.dtype, xp)
    Xs = X * scale if scale != 1.0 else X
    Xc, mean, var = be.centre_columns(Xs)
    return Xc, Frame(mean=mean, scale=scale), var


def centre_problems(
    be: StandardBackend, X: Array, w: Array
) -> tuple[Array, Array, float, Array]:
    """Check X is finite; per problem, centre the non-padding rows.

    Returns ``(Xc, mean, scale, variance)``: ``Xc = (X * scale - mean) *
    valid`` (padding rows become zeros), mean of shape (B, 1, d) in X's dtype
    and in the rescaled units (as ``KMeans``' frame), scale a power of two
    (see ``power_of_two_scale``) chosen from X's largest magnitude, and the
    variance (B, d) of the rescaled rows in the accumulation dtype, all over
    non-padding rows.

    Where a compiled centring pass exists it also reads X's extremes (the
    finiteness check and the scale), so X is read once; the rare data that
    needs a scale other than 1 is centred again.
    """
    xp = be.xp
    Xc, mean, var, extremes = be.centre_problems(X, w, 1.0, with_extremes=True)
    val.check_finite(xp, X, "X", extremes=extremes)
    scale = power_of_two_scale(max(map(abs, extremes)), X.dtype, xp)
    if Xc is None or scale != 1.0:
        Xc, mean, var = be.centre_problems(X, w, scale)
    return Xc, mean, scale, var


def squared_units(be: StandardBackend, inertia: Array, scale: float) -> Array:
    """Inertias of the frame of ``scale`` in X's units (see ``Frame.squared``).

    Two products by the unit ``1 / scale``, whose square may not be
    representable; inertias beyond the dtype's range become inf.
    """
    if scale == 1.0:
        return inertia
    unit = 1.0 / scale
    return be.scale_into(
        be.scale_into(inertia, unit, inertia.dtype), unit, inertia.dtype
    )
