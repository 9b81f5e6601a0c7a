"""tentnet: ReLU networks with exactly 2^depth linear pieces, and how to train them."""

from .errors import TentnetError as TentnetError
from .regions import Regions as Regions
from .regions import count_linear_regions as count_linear_regions
from .tent import TentNet as TentNet

__version__ = "0.1.0"
