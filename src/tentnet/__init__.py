"""tentnet: ReLU networks with exactly 2^depth linear pieces, and how to train them."""

from ._malloc import keep_freed_memory as keep_freed_memory
from .errors import TentnetError as TentnetError
from .export import export as export
from .fit import FitResult as FitResult
from .fit import fit as fit
from .io import load as load
from .io import save_model as save_model
from .layers import TentLayer as TentLayer
from .limit import PWLFit as PWLFit
from .limit import optimal_pwl as optimal_pwl
from .methods import METHODS as METHODS
from .regions import Regions as Regions
from .regions import count_linear_regions as count_linear_regions
from .tent import TentNet as TentNet
from .train import TrainConfig as TrainConfig
from .version import __version__ as __version__
