"""The price of every counted event: energy per event and duration of every step, as one pytree of floats.

`ChipCosts` is a frozen dataclass whose floats are pytree leaves, so a study can `jax.vmap` the accounting
(`crossbar.energy.account`) over a grid of costs. Validate it at the boundary (`ChipCosts.validate`).

Sources of the defaults (each field says which it uses; "estimate" means no published number for exactly this
quantity was found and the value is an order-of-magnitude choice within the cited ranges):
    [GV16] Gokmen & Vlasov, "Acceleration of deep neural network training with resistive cross-point devices:
        design considerations", Front. Neurosci. 10:333 (2016): read integration time t_meas = 80 ns, update
        pulses of 1 ns (an update cycle of BL = 10 slots takes 10 ns), stochastic pulses of +-V/2 on rows and
        columns so that coincidences see V and half-selected devices V/2.
    [Mur] B. Murmann, "ADC Performance Survey 1997-2024" (ISSCC and VLSI Symposium papers,
        github.com/bmurmann/ADC-survey): the Walden figure of merit E = FoM_W x 2^ENOB per conversion; the best
        designs reach ~1 fJ per conversion step, most published converters lie between 10 and 100 fJ.
    [Hor14] M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, 45 nm:
        16-bit float add 0.4 pJ, multiply 1.1 pJ; 32-bit float add 0.9 pJ, multiply 3.7 pJ; 8 kB SRAM read of
        64 bits 10 pJ.
    [NS] NeuroSim (Chen, Peng & Yu, IEEE TCAD 37:3067 (2018); MLP_NeuroSim V3.0): wire capacitance 0.2 fF/um.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from devices.pytree import pytree_dataclass
from devices.validation import check_nonnegative, check_positive, check_scalar

ENERGY_FIELDS = ("adc_fom", "dac_fom", "e_integrator", "e_line_driver", "c_line_per_device", "e_digital_op")
TIME_FIELDS = ("t_read", "t_pulse", "t_digital")
VOLTAGE_FIELDS = ("v_pulse",)


@pytree_dataclass
@dataclass(frozen=True)
class ChipCosts:
    """Energy per event (J), line capacitance (F), pulse amplitude (V) and step durations (s) of the chip.

    Attributes:
        adc_fom: ADC energy per conversion step (J); one conversion of b bits costs adc_fom 2^b (Walden).
            Default 20 fJ: estimate, within the bulk of [Mur] (the best designs ~1 fJ).
        dac_fom: DAC (input driver) energy per conversion step (J); b bits cost dac_fom 2^b. Default 5 fJ:
            estimate (published DACs 1-20 fJ per step; a pulse-width DAC is a counter and a switch).
        e_integrator: Integrator / sense amplifier energy per output line per read (J). Default 80 fJ:
            estimate, an operational transconductance amplifier of ~1 uW integrating for t_read = 80 ns [GV16].
        e_line_driver: Fixed line-driver energy per pulse fired on a line (J), besides charging the line.
            Default 10 fJ: estimate (a few inverter stages driving the line).
        c_line_per_device: Line capacitance per device on it (F); a pulse charges the line to V/2 [GV16].
            Default 0.1 fF: [NS] 0.2 fF/um times a cell pitch of ~0.5 um (estimate of the pitch).
        e_digital_op: Energy of one scalar digital operation around the arrays (J): scaling, activation,
            slope, error. Default 1 pJ: [Hor14] 16-bit float multiply 1.1 pJ / add 0.4 pJ, with its operand
            access from a small SRAM amortised over a vector (estimate).
        v_pulse: Full update amplitude across a device at a coincidence (V); each line carries V/2 [GV16]. Must
            exceed the device's switching threshold while V/2 stays below it. Default 1.5 V: estimate between
            the threshold (1 V for the GV2016 preset) and twice it.
        t_read: Duration of one vector read (s), integration and conversion. Default 80 ns [GV16].
        t_pulse: Duration of one update slot (s). Default 1 ns [GV16].
        t_digital: Duration of the digital stage after every read (s): scaling, activations or slopes of a whole
            vector in parallel. Default 5 ns: estimate (a few cycles of a ~1 GHz vector unit).
    """

    adc_fom: float = 20e-15
    dac_fom: float = 5e-15
    e_integrator: float = 80e-15
    e_line_driver: float = 10e-15
    c_line_per_device: float = 0.1e-15
    e_digital_op: float = 1e-12
    v_pulse: float = 1.5
    t_read: float = 80e-9
    t_pulse: float = 1e-9
    t_digital: float = 5e-9

    def validate(self) -> ChipCosts:
        """Raise ValueError naming the field unless energies are >= 0 and times and voltages > 0."""
        for f in fields(self):
            check_scalar(f.name, getattr(self, f.name))
        for name in ENERGY_FIELDS:
            check_nonnegative(name, getattr(self, name))
        for name in TIME_FIELDS + VOLTAGE_FIELDS:
            check_positive(name, getattr(self, name))
        return self

    def check_device(self, v_threshold: float) -> ChipCosts:
        """Raise unless the pulse switches at a coincidence (v_pulse > threshold) and not half-selected."""
        if not (v_threshold < self.v_pulse < 2 * v_threshold):
            raise ValueError(f"`v_pulse` must exceed the device threshold and stay below twice it, so that only "
                             f"coincidences switch; got v_pulse={self.v_pulse}, v_threshold={v_threshold}")
        return self


def make_costs(**changes) -> ChipCosts:
    """Validated `ChipCosts`: the cited defaults with the named fields changed."""
    unknown = set(changes) - {f.name for f in fields(ChipCosts)}
    if unknown:
        raise ValueError(f"unknown cost parameters {sorted(unknown)}; valid: "
                         f"{', '.join(f.name for f in fields(ChipCosts))}")
    return ChipCosts(**changes).validate()
