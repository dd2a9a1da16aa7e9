"""glade.env: the Wood, a woodland market economy (Python, numpy and the Gymnasium/PettingZoo
APIs; never imports torch, and of glade reads only the shipped YAML files in glade.recipes).

from glade.env import parallel_env
env = parallel_env("default", turns=10)
observations, infos = env.reset(seed=7)
"""

from .parallel import WoodEnv, parallel_env
from .scenario import Scenario, load_scenario
from .single import SingleCreatureEnv

__all__ = ["WoodEnv", "parallel_env", "SingleCreatureEnv", "Scenario", "load_scenario"]
