"""Energy and time of what a simulation did, from the events it counted (`crossbar.events`).

`costs.ChipCosts` prices every event (cited defaults, validated, a pytree of floats a sweep can vmap over);
`account` turns one layer's events into energy by component and time by phase; `gpu` estimates the same
training on a named GPU from its FLOPs and datasheet; `report` puts a training run's numbers together.
"""

from crossbar.energy.account import COMPONENTS, LayerSpec, layer_energy, layer_spec, layer_time, network_energy
from crossbar.energy.costs import ChipCosts, make_costs
from crossbar.energy.gpu import GPU, GPUS, gpu_estimate, training_flops
from crossbar.energy.report import layer_specs, markdown, mean_conductance, training_report

__all__ = ["COMPONENTS", "LayerSpec", "layer_energy", "layer_spec", "layer_time", "network_energy", "ChipCosts",
           "make_costs", "GPU", "GPUS", "gpu_estimate", "training_flops", "layer_specs", "markdown",
           "mean_conductance", "training_report"]
