"""Array presets: a device preset together with the layout, periphery and update scheme it was published with.

`ARRAY_PRESETS[name]()` gives the keyword arguments of `crossbar.array.make_crossbar` (and of
`crossbar.training.backends.CrossbarBackend`) for the device preset of the same name in `devices.presets`.

References:
    aihwkit `PresetIOParameters` and `PresetUpdateParameters` (src/aihwkit/simulator/presets/utils.py): 7-bit DAC
    (inp_res 1 / (2^7 - 2)), 9-bit ADC (out_res 1 / (2^9 - 2)), out_bound 20, out_noise 0.1, noise management
    abs_max, iterative bound management; desired_bl 31 with update management and update BL management.
"""

from __future__ import annotations

from collections.abc import Callable

from crossbar.periphery import Periphery
from crossbar.update import PulseUpdate


def reram_sb_aihwkit() -> dict:
    """aihwkit's periphery and update for its `ReRamSBPresetDevice` presets (`devices.presets.reram_sb_aihwkit`):
    one device against a reference per weight (set at each device's symmetry point by `crossbar.reference`),
    aihwkit's weight units (w_max 1: the range -0.75..1.25 spans 2), dw_min 0.002 (the step at the symmetry
    point)."""
    periphery = Periphery(dac_bits=7, adc_bits=9, input_bound=1.0, output_bound=20.0, output_noise=0.1,
                          noise_management="abs_max", bound_management="iterative")
    return {"pair": "reference", "w_max": 1.0, "dw_min": 0.002, "periphery": periphery,
            "periphery_backward": periphery, "update_scheme": PulseUpdate(bl=31, update_management=True,
                                                                          bl_management=True)}


ARRAY_PRESETS: dict[str, Callable[[], dict]] = {"reram_sb_aihwkit": reram_sb_aihwkit}
