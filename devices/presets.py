"""Named, cited device configurations. Each preset is a function returning a validated device model.

`get(name)` looks a preset up by name; `PRESETS` lists them. Model classes by name are in
`devices.MODELS`.
"""

from __future__ import annotations

from collections.abc import Callable

from devices.constant_step import ConstantStep
from devices.noise import Variation


def gokmen_vlasov() -> ConstantStep:
    """The RPU baseline device of Gokmen & Vlasov 2016, in conductance units.

    dw_min = 0.001 with weights bounded at +-0.6, mapped onto a differential pair of 0-10 uS devices
    (600 steps per device); +-30% device-to-device step spread, 30% cycle-to-cycle step noise,
    30% spread of the bounds, 2% up/down asymmetry spread.

    References:
        Gokmen & Vlasov, Front. Neurosci. 10:333 (2016), Table 1 and Section "RPU baseline model".
    """
    return ConstantStep(
        g_min=0.0, g_max=10e-6, dg=10e-6 / 600, v_threshold=1.0,
        variation=Variation(dg_d2d=0.3, c2c=0.3, bounds_d2d=0.3, up_down_d2d=0.02),
    ).validate()


def ideal() -> ConstantStep:
    """A noise-free constant-step device with a tiny step (1e-5 of the range): a float weight in disguise.

    Illustrative; used to check that on-crossbar training tracks floating point.
    """
    return ConstantStep(g_min=0.0, g_max=10e-6, dg=10e-6 * 1e-5, v_threshold=1.0).validate()


PRESETS: dict[str, Callable] = {
    "gokmen_vlasov": gokmen_vlasov,
    "ideal": ideal,
}


def get(name: str):
    """The preset device called `name`; ValueError listing the valid names otherwise."""
    if name not in PRESETS:
        raise ValueError(f"unknown device preset {name!r}; valid presets: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]()
