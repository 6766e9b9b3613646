"""Named, cited device configurations. Each preset is a function returning a validated device model.

`get(name)` looks a preset up by name; `PRESETS` lists them. Model classes by name are in
`devices.MODELS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from devices.aihwkit import soft_bounds_from_aihwkit
from devices.bilayer import Bilayer
from devices.constant_step import ConstantStep
from devices.device_file import is_device_file, load_device
from devices.drift import ExponentialRelaxation, PowerLawDrift, RelaxationDrift
from devices.hfo2_abrupt import HfO2Abrupt
from devices.noise import ReadNoise, Variation
from devices.nonlinear import NeuroSimNonlinear
from devices.params import replace_parameters
from devices.pcm import PCM
from devices.soft_bounds import SoftBounds


def gokmen_vlasov() -> ConstantStep:
    """The RPU baseline device of Gokmen & Vlasov 2016, in conductance units.

    dw_min = 0.001 with weights bounded at +-0.6: 5-15 uS devices with 1200 steps over their range, so that
    with `w_max = 0.6` one coincidence moves a differential pair (or one device against a reference
    column) by 2 dg w_max / range = 0.001 (see `crossbar.mapping`); +-30% device-to-device step spread,
    30% cycle-to-cycle step noise, 30% spread of the bounds, 2% up/down asymmetry spread.

    References:
        Gokmen & Vlasov, Front. Neurosci. 10:333 (2016), Table 1 and Section "RPU baseline model".
    """
    return ConstantStep(
        g_min=5e-6, g_max=15e-6, dg=10e-6 / 1200, v_threshold=1.0,
        variation=Variation(dg_d2d=0.3, c2c=0.3, bounds_d2d=0.3, up_down_d2d=0.02),
    ).validate()


def ideal() -> ConstantStep:
    """A noise-free constant-step device with a tiny step (1e-5 of the range): a float weight in disguise.

    Illustrative; used to check that on-crossbar training tracks floating point.
    """
    return ConstantStep(g_min=0.0, g_max=10e-6, dg=10e-6 * 1e-5, v_threshold=1.0).validate()


def pcm_nandakumar() -> PCM:
    """A PCM device after the statistical model of Nandakumar et al., with power-law drift and 1/f read noise.

    0.1-25 uS; a mean SET step of 1.5 uS at G_min falling linearly to 0 at G_max (about 20 pulses to saturate
    on average), cycle-to-cycle spread of the step as large as the step itself, 30% device-to-device step
    spread, 10% spread of the bounds; RESET (|v| >= 2 V, negative) back to G_min. Drift nu = 0.04 at G_max
    rising to 0.08 at G_min, +-0.01 device to device, t0 = 20 s. Read noise 1% right after programming,
    growing 1/f-like. All numbers are illustrative, of the order of the cited measurements.

    References:
        Nandakumar et al., J. Appl. Phys. 124, 152135 (2018) and ICECS 2019 (aihwkit `PCMPresetDevice`);
        Le Gallo et al., Adv. Electron. Mater. 4, 1700627 (2018) for the drift.
    """
    return PCM(
        g_min=0.1e-6, g_max=25e-6, dg=1.5e-6, gamma=1.0, v_threshold=1.0, v_reset=2.0,
        variation=Variation(c2c=1.0, dg_d2d=0.3, bounds_d2d=0.1),
        read_noise=ReadNoise(std=0.01, flicker=0.1),
        drift=PowerLawDrift(nu=0.04, nu_low_g=0.04, nu_d2d=0.01, t0=20.0),
    ).validate()


def _neurosim_device(g_min: float, g_max: float, levels: float, norm_a_ltp: float, norm_a_ltd: float,
                     c2c_of_range: float) -> NeuroSimNonlinear:
    """A device of NeuroSim's table: conductance range (S), number of levels (pulses across the range), the
    normalised nonlinearity A / P_max of each curve (NeuroSim's lookup table from its nonlinearity labels,
    `documents/Nonlinearity-NormA` in MLP+NeuroSim V3.0) and its cycle-to-cycle sigma as a fraction of the range
    per pulse. NeuroSim's sigma is absolute; here c2c is relative to the mean step, so sigma x P_max reproduces it
    at the linear step size (it is smaller where a curve has saturated)."""
    return NeuroSimNonlinear(
        g_min=g_min, g_max=g_max, a_ltp=norm_a_ltp * levels, a_ltd=norm_a_ltd * levels, p_max=levels,
        v_threshold=1.0, variation=Variation(c2c=c2c_of_range * levels),
    ).validate()


def neurosim_ag_si() -> NeuroSimNonlinear:
    """The Ag:a-Si synapse of NeuroSim: 97 levels, nonlinearity labels 2.4 (LTP) and -4.88 (LTD).

    G = 3.08-38.5 nS (on/off 12.5). NeuroSim's labels map to normalised A = A / P_max of 0.50 (LTP) and
    0.20 (LTD) by its lookup table, so A_LTP = 48.4 and A_LTD = 19.4 pulses with P_max = 97 (NeuroSim uses
    100 LTD levels; one P_max here). Cycle-to-cycle sigma 3.5% of the range per pulse (see `_neurosim_device`).

    References:
        Chen, Peng, Yu, "NeuroSim+", IEDM 2017; MLP+NeuroSim V3.0 `Cell.cpp` (`RealDevice`), device data from
        Jo et al., "Nanoscale memristor device as synapse in neuromorphic systems", Nano Lett. 10 (2010).
    """
    return _neurosim_device(3.0769e-9, 3.8462e-8, 97.0, 0.4988, 0.2003, 0.035)


def neurosim_taox_hfox() -> NeuroSimNonlinear:
    """The TaOx/HfOx RRAM of NeuroSim's device table: 128 levels, nonlinearity labels 0.04 (LTP) and -0.63 (LTD).

    G = 1-10 uS (on/off 10, R_on 100 kOhm), 1.6 V / 50 ns pulses both ways. Normalised A from NeuroSim's lookup
    table: 31.57 (LTP: practically linear) and 1.997 (LTD), i.e. A_LTP = 4041 and A_LTD = 255.6 pulses with
    P_max = 128; cycle-to-cycle sigma 3.7% of the range per pulse. Every number is the table's; read noise,
    device-to-device spread and drift are not in it and are off.

    References:
        Wu et al., "A methodology to improve linearity of analog RRAM for neuromorphic computing", Symp. VLSI
        Technology 2018 (the device); MLP+NeuroSim V3.0 user manual, Table II (levels, labels, R_on, on/off,
        sigma); its NeuroSim parameters as distributed with NeuroSim-based tools (MELISO,
        `config_files/device_TaOx-HfOx.yaml`: maxNumLevelLTP/LTD 128, NL_LTP 0.04, NL_LTD -0.63, sigmaCtoC 0.037,
        1-10 uS); normalised A from MLP+NeuroSim V3.0 `documents/Nonlinearity-NormA`.
    """
    return _neurosim_device(1e-6, 1e-5, 128.0, 31.5668, 1.9973, 0.037)


def neurosim_alox_hfo2() -> NeuroSimNonlinear:
    """The AlOx/HfO2 bilayer RRAM of NeuroSim's device table: 40 levels, nonlinearity labels 1.94 (LTP) and -0.61
    (LTD).

    G = 13.36-59.17 uS (on/off 4.43, R_on 16.9 kOhm), +0.9 V / -1 V pulses of 100 us. Normalised A from
    NeuroSim's lookup table: 0.6292 (LTP) and 2.063 (LTD), i.e. A_LTP = 25.2 and A_LTD = 82.5 pulses with P_max
    = 40; cycle-to-cycle sigma 5% of the range per pulse. Every number is the table's; read noise,
    device-to-device spread and drift are not in it and are off.

    References:
        Woo et al., "Improved synaptic behavior under identical pulses using AlOx/HfO2 bilayer RRAM array for
        neuromorphic systems", IEEE Electron Device Lett. 37(8), 994-997 (2016) (the device); MLP+NeuroSim V3.0
        user manual, Table II; its NeuroSim parameters as distributed with NeuroSim-based tools (MELISO,
        `config_files/device_AlOx-HfO2.yaml`); normalised A from MLP+NeuroSim V3.0 `documents/Nonlinearity-NormA`.
    """
    return _neurosim_device(1.3357e-5, 5.9172e-5, 40.0, 0.6292, 2.0633, 0.05)


def neurosim_pcmo() -> NeuroSimNonlinear:
    """The Pr0.7Ca0.3MnO3 (PCMO) RRAM of NeuroSim's device table: 50 levels, nonlinearity labels 3.68 (LTP) and
    -6.76 (LTD): strongly nonlinear both ways.

    G = 6.36-43.5 nS (R_on 23 MOhm, on/off 6.84), -2 V / 1 ms pulses to potentiate, +2 V / 1 ms to depress.
    Normalised A from NeuroSim's lookup table: 0.3006 (LTP) and 0.1003 (LTD), i.e. A_LTP = 15.0 and A_LTD = 5.0
    pulses with P_max = 50. The table gives the cycle-to-cycle sigma as "<1%" of the range per pulse; 1% (its
    upper bound) is used. NeuroSim reports ~33% online-learning accuracy (MNIST, its 400-100-10 MLP) for it.
    Read noise, device-to-device spread and drift are not in the table and are off.

    References:
        Park et al., "Neuromorphic speech systems using advanced ReRAM-based synapse", IEDM 2013 (the device);
        MLP+NeuroSim V3.0 user manual, Table II "The benchmark table in NeuroSimV3.0" (levels, labels, R_on,
        on/off, pulses, sigma); normalised A from MLP+NeuroSim V3.0 `documents/Nonlinearity-NormA`.
    """
    return _neurosim_device(1 / 23e6 / 6.84, 1 / 23e6, 50.0, 0.3006, 0.1003, 0.01)  # G_max = 1 / R_on


def neurosim_epiram() -> NeuroSimNonlinear:
    """The epitaxial SiGe RRAM with engineered dislocations (EpiRAM, Ag:SiGe) of NeuroSim's device table:
    64 levels, nonlinearity labels 0.5 (LTP) and -0.5 (LTD): nearly linear and symmetric.

    G = 0.246-12.3 uS (R_on 81 kOhm, on/off 50.2), +5 V / 5 us pulses to potentiate, -3 V / 5 us to depress.
    Normalised A from NeuroSim's lookup table: 2.5199 both ways, i.e. A = 161.3 pulses with P_max = 64;
    cycle-to-cycle sigma 2% of the range per pulse. NeuroSim reports ~92% online-learning accuracy for it, the
    best of its analog devices. Read noise, device-to-device spread and drift are not in the table and are off.

    References:
        Choi et al., "SiGe epitaxial memory for neuromorphic computing with reproducible high performance based
        on engineered dislocations", Nature Materials 17, 335-340 (2018) (the device); MLP+NeuroSim V3.0 user
        manual, Table II (levels, labels, R_on, on/off, pulses, sigma); normalised A from MLP+NeuroSim V3.0
        `documents/Nonlinearity-NormA`.
    """
    return _neurosim_device(1 / 81e3 / 50.2, 1 / 81e3, 64.0, 2.5199, 2.5199, 0.02)  # G_max = 1 / R_on


def hfo2_baseline() -> HfO2Abrupt:
    """The abrupt HfO2 filamentary RRAM baseline: binary-like SET/RESET after a stochastic number of pulses.

    HRS 5 uS (200 kOhm), LRS 100 uS (10 kOhm), SET/RESET at 1 V; about 30 +- 8 pulses to switch (cycle to
    cycle), a further 20% device-to-device spread of that number and 10% of the bounds; reached levels spread
    by 5% (LRS) and 2% (HRS) of the range; conductance relaxation of 2% of the range per decade of time.
    All numbers are illustrative of the abrupt switching and relaxation reported for single-layer HfO2. The
    measured HfO2 array of Gong & Rasch et al. 2022, as an analog device (aihwkit's soft-bounds fit: about four
    steps across the range, large spreads and write noise), is the preset `reram_hfo2_gong2022`.

    References:
        Wong et al., "Metal-Oxide RRAM", Proc. IEEE 100(6), 1951-1970 (2012).
    """
    return HfO2Abrupt(
        g_min=5e-6, g_max=100e-6, v_threshold=1.0, v_reset=1.0, n_set=30.0, n_set_std=8.0, n_reset=30.0,
        n_reset_std=8.0, lrs_c2c=0.05, hrs_c2c=0.02, creep=0.001,
        variation=Variation(dg_d2d=0.2, bounds_d2d=0.1, c2c=0.3),
        read_noise=ReadNoise(std=0.01), drift=RelaxationDrift(shift=0.02, spread=0.02),
    ).validate()


def bilayer_ibm() -> Bilayer:
    """The bilayer TaOx/HfO2 analog ReRAM: gradual, symmetric updates over ~200 pulses, stable states.

    2-20 uS; the first step of a sweep is 0.6% of the range and the bounds are weakly soft (gamma = 0.5), so
    200 pulses cover ~90% of the range in either direction and the up and down curves mirror each other;
    10% step spread device to device, 2% asymmetry spread, 5% bound spread, 10% cycle-to-cycle step noise;
    0.5% read noise; relaxation of 0.05% of the range per decade, i.e. intermediate states hold over 1000 s.
    Illustrative numbers reproducing the qualitative behaviour, not a fit to the papers' data. The measured
    array of the same material class (Gong & Rasch et al. 2022, "optimized material", as aihwkit fits it) is the
    preset `reram_om_gong2022`: about 21 steps across the range rather than 200, with log-normal step spread
    0.78, additive step noise 0.42 and write noise 1.41 steps; these presets keep their illustrative numbers
    so that the 200-pulse curves of the notebooks stay what they show.

    References:
        Stecconi et al., "Filamentary TaOx/HfO2 ReRAM devices for neural networks training with analog
        in-memory computing", Adv. Electron. Mater. 8, 2200448 (2022); Gong et al., "Deep learning acceleration
        in 14nm CMOS compatible ReRAM array: device, material and algorithm co-optimization", Nat. Commun. (2022).
    """
    return Bilayer(
        g_min=2e-6, g_max=20e-6, dg=18e-6 * 0.006, gamma=0.5, v_threshold=1.0,
        variation=Variation(dg_d2d=0.1, up_down_d2d=0.02, bounds_d2d=0.05, c2c=0.1),
        read_noise=ReadNoise(std=0.005), drift=RelaxationDrift(shift=0.0005, spread=0.001),
    ).validate()


def _gong2022(dw_min, dw_min_dtod, w_max_dtod, w_min_dtod, dw_min_std, write_noise_std) -> SoftBounds:
    # aihwkit's fit in weights (w in [-1, 1], compliance adjusted) on a nominal 10-20 uS range (illustrative: the
    # weights do not depend on it, the read and pulse energies do), far enough from 0 S that a lower bound spread
    # by 60% of the half range is never floored at 0 S.
    return soft_bounds_from_aihwkit(dw_min, 1.0, 10e-6, 20e-6, up_down=0.0, dw_min_dtod=dw_min_dtod,
                                    dw_min_dtod_log_normal=True, up_down_dtod=0.01, w_max_dtod=w_max_dtod,
                                    w_min_dtod=w_min_dtod, dw_min_std=dw_min_std, mult_noise=False,
                                    write_noise_std=write_noise_std)


def reram_hfo2_gong2022() -> SoftBounds:
    """The "baseline HfO2" ReRAM array of Gong & Rasch et al. (IEDM 2022), as aihwkit's soft-bounds fit to it.

    Soft bounds, step at the symmetry point dw_min = 0.4622 of the half range (about 4 steps across the range),
    log-normal device-to-device step spread 0.7125, bound spreads 0.4295 (upper) and 0.5990 (lower),
    up/down spread 0.01, additive cycle-to-cycle step noise 0.2174 dw_min, write noise 0.5841 dw_min (redrawn
    at every update). Use a crossbar `w_max` of 1 for aihwkit's weight units. Not modelled here: the 9.8%
    corrupt devices aihwkit also leaves out by default, and aihwkit's subtraction of each device's own
    symmetry point (the reference column here sits at the nominal mid-range; `devices.aihwkit`). The
    conductance range 10-20 uS is illustrative.

    References:
        Gong, Rasch et al., "Deep learning acceleration in 14nm CMOS compatible ReRAM array: device, material
        and algorithm co-optimization", IEDM 2022; aihwkit `ReRamArrayHfO2PresetDevice`
        (src/aihwkit/simulator/presets/devices.py), whose fitted values these are.
    """
    return _gong2022(0.4622, 0.7125, 0.4295, 0.5990, 0.2174, 0.5841)


def reram_om_gong2022() -> SoftBounds:
    """The "optimized material" (conductive metal oxide on HfOx) ReRAM array of Gong & Rasch et al. (IEDM 2022),
    as aihwkit's soft-bounds fit to it: the measured counterpart of the bilayer device.

    Soft bounds, dw_min = 0.0949 of the half range (about 21 steps across it), log-normal step spread 0.7829,
    bound spreads 0.3499 (upper) and 0.5695 (lower), up/down spread 0.01, additive step noise 0.4158 dw_min,
    write noise 1.4113 dw_min. What is not modelled and what is illustrative: as `reram_hfo2_gong2022` (13.5%
    corrupt devices there).

    References:
        Gong, Rasch et al., IEDM 2022 (as `reram_hfo2_gong2022`); aihwkit `ReRamArrayOMPresetDevice`.
    """
    return _gong2022(0.0949, 0.7829, 0.3499, 0.5695, 0.4158, 1.4113)


def reram_sb_aihwkit() -> SoftBounds:
    """aihwkit's `ReRamSBPresetDevice`: the soft-bounds ReRAM its transfer-algorithm presets train with.

    In aihwkit's weight units: soft bounds w_min = -0.75, w_max = 1.25 (the symmetry point, w = 0, off the
    mid-range: at 37.5% of it), step at the symmetry point dw_min = 0.002 (1000 states across the range), its
    device-to-device spread 0.3, up/down spread 0.01, bound spreads 0.24 (w_max) and 0.4 (w_min), additive
    cycle-to-cycle step noise 3.75 dw_min, write noise 56 dw_min (an offset of the apparent weight, redrawn at
    every update). The conductance range 10-30 uS is illustrative (the weights do not depend on it). Train it on
    arrays with a reference at each device's symmetry point and aihwkit's periphery: `crossbar.presets`
    (`reram_sb_aihwkit`: reference pair with w_max 1, dw_min 0.002, 7-bit DAC, 9-bit ADC, output bound 20, output
    noise 0.1, BL 31 with update and BL management).

    References:
        Gong et al., "Signal and noise extraction from analog memory elements for neuromorphic computing",
        Nat. Commun. 9:2102 (2018) (the loose fit); aihwkit `ReRamSBPresetDevice`
        (src/aihwkit/simulator/presets/devices.py), whose values these are.
    """
    return soft_bounds_from_aihwkit(0.002, 1.25, 10e-6, 30e-6, w_min=-0.75, dw_min_dtod=0.3, up_down_dtod=0.01,
                                    w_max_dtod=0.3 / 1.25, w_min_dtod=0.3 / 0.75, dw_min_std=3.75,
                                    mult_noise=False, write_noise_std=56.0)


def diffusive_volatile(tau: float = 1.0) -> ConstantStep:
    """A volatile (diffusive) memristor holding an eligibility trace: potentiated by pulses, relaxing back to its
    rest state G_min with time constant `tau` (s).

    1-21 uS, 200 constant steps over the range, 10% device-to-device step spread and 10% cycle-to-cycle noise,
    no spread of the bounds (every device relaxes to the same rest conductance, so a differential pair relaxes
    to a weight of exactly zero), no read noise; relaxation `ExponentialRelaxation(tau)`.

    References:
        Wang et al., Nat. Mater. 16, 101-108 (2017) (diffusive memristors, relaxation of ms to s); the numbers
        are illustrative.
    """
    return ConstantStep(
        g_min=1e-6, g_max=21e-6, dg=20e-6 / 200, v_threshold=1.0,
        variation=Variation(dg_d2d=0.1, c2c=0.1), drift=ExponentialRelaxation(tau=tau),
    ).validate()


PRESETS: dict[str, Callable] = {
    "gokmen_vlasov": gokmen_vlasov,
    "ideal": ideal,
    "pcm_nandakumar": pcm_nandakumar,
    "neurosim_ag_si": neurosim_ag_si,
    "neurosim_taox_hfox": neurosim_taox_hfox,
    "neurosim_alox_hfo2": neurosim_alox_hfo2,
    "neurosim_pcmo": neurosim_pcmo,
    "neurosim_epiram": neurosim_epiram,
    "hfo2_baseline": hfo2_baseline,
    "bilayer_ibm": bilayer_ibm,
    "reram_hfo2_gong2022": reram_hfo2_gong2022,
    "reram_om_gong2022": reram_om_gong2022,
    "reram_sb_aihwkit": reram_sb_aihwkit,
    "diffusive_volatile": diffusive_volatile,
}


def get(name: str):
    """The preset device called `name`; ValueError listing the valid names otherwise."""
    if name not in PRESETS:
        raise ValueError(f"unknown device preset {name!r}; valid presets: {', '.join(sorted(PRESETS))}")
    return PRESETS[name]()


def device_names() -> list[str]:
    """Every name `--device` accepts: the presets, then the model classes (besides any `*.json` device file)."""
    from devices import MODELS  # the package imports this module's siblings; import it late

    return sorted(PRESETS) + sorted(MODELS)


def make_device(name: str, overrides: dict[str, float] | None = None):
    """The validated device called `name` (a preset, a model class or a `*.json` device file such as a fitted
    device, see `devices.device_file`), with dotted parameters overridden.

    Raises:
        ValueError: for an unknown device name (listing the valid ones), an unknown parameter name
            (listing the device's parameters) or a parameter value the device rejects.
    """
    from devices import MODELS

    if not isinstance(name, str):
        raise TypeError(f"`name` must be a device name (str); got {name!r}; valid presets: "
                        f"{', '.join(sorted(PRESETS))}; valid models: {', '.join(sorted(MODELS))}")
    if overrides is not None and (not isinstance(overrides, Mapping) or not all(isinstance(k, str) for k in overrides)):
        raise TypeError(f"`overrides` must be a mapping of dotted parameter names (str) to values; got {overrides!r}")
    if is_device_file(name):
        device = load_device(name)
    elif name in PRESETS:
        device = PRESETS[name]()
    elif name in MODELS:
        device = MODELS[name]()
    else:
        raise ValueError(f"unknown device {name!r}; valid presets: {', '.join(sorted(PRESETS))}; "
                         f"valid models: {', '.join(sorted(MODELS))}")
    if overrides:
        device = replace_parameters(device, **overrides)
    try:
        return device.validate()
    except (ValueError, TypeError) as err:
        raise ValueError(f"device {name!r}: {err}") from None
