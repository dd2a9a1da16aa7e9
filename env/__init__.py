"""glade.env: the Wood, a woodland market economy (Python, numpy and the Gymnasium/PettingZoo
APIs; never imports torch, and of glade reads only the shipped YAML files in glade.recipes).

from glade.env import parallel_env
env = parallel_env("default", turns=10)
observations, infos = env.reset(seed=7)
"""

import gymnasium

from .parallel import WoodEnv, parallel_env
from .scenario import Scenario, load_scenario
from .single import SingleCreatureEnv

# gymnasium.make("glade/Wood-v0", creature="hazel", scenario="gambit_rumour"): the one-creature
# view under Gymnasium's registry, so its spec, wrappers and vector envs find it by name
if "glade/Wood-v0" not in gymnasium.registry:
    gymnasium.register("glade/Wood-v0", entry_point="glade.env.single:SingleCreatureEnv")

__all__ = ["WoodEnv", "parallel_env", "SingleCreatureEnv", "Scenario", "load_scenario"]
