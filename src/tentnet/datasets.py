"""Real 1-D data sets that ship inside a package and load with no network.

Name one as a target with the ``data:`` prefix (``tentnet fit --target data:sunspots``). They
come from statsmodels' bundled data (``pip install 'tentnet[data]'``); nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import TentnetError

PREFIX = "data:"


def _statsmodels():
    try:
        import statsmodels.api as sm
    except ImportError:
        raise TentnetError(
            "the built-in data sets come from statsmodels: pip install 'tentnet[data]'"
        ) from None
    return sm.datasets


def _sunspots() -> tuple[np.ndarray, np.ndarray]:
    frame = _statsmodels().sunspots.load_pandas().data
    return np.array(frame["YEAR"], dtype=float), np.array(frame["SUNACTIVITY"], dtype=float)


def _co2() -> tuple[np.ndarray, np.ndarray]:
    frame = _statsmodels().co2.load_pandas().data.dropna()
    days = np.asarray(frame.index.to_numpy(), dtype="datetime64[D]")
    start = days.astype("datetime64[Y]")  # 1 January of each date's year
    year = start.astype(float) + 1970.0 + (days - start).astype(float) / 365.25
    return np.array(year, dtype=float), np.array(frame["co2"], dtype=float)


BUILTIN: dict[str, tuple[str, Callable[[], tuple[np.ndarray, np.ndarray]]]] = {
    "sunspots": ("yearly mean sunspot number against year, 1700-2008 (309 points)", _sunspots),
    "co2": (
        "weekly Mauna Loa CO2 (ppm) against decimal year, 1958-2001 (2,225 points; the 59 "
        "missing weeks dropped)",
        _co2,
    ),
}


def load_builtin(target: str) -> tuple[np.ndarray, np.ndarray]:
    """The built-in data set ``data:NAME`` as arrays ``x (P, 1)`` and ``y (P,)`` (wrapped in a
    :class:`tentnet.targets.Dataset` by :func:`tentnet.targets.load_data`)."""
    name = target.removeprefix(PREFIX)
    if name not in BUILTIN:
        raise TentnetError(
            f"unknown data set {target!r}; choose one of "
            + ", ".join(PREFIX + n for n in sorted(BUILTIN))
        )
    x, y = BUILTIN[name][1]()
    return x[:, None], y
