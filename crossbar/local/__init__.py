"""Local learning on crossbars: three-factor (success-modulated) updates, eligibility traces, spiking neurons.

- `modulated`: dw = lr S pre post^T as pulse coincidence, and the transfer of a trace matrix by pulse counts.
- `traces`: eligibility traces in digital memory, per synapse (`DigitalTrace`) or factorised (`FactorisedTrace`).
- `volatile`: eligibility traces held by a volatile crossbar that relaxes with tau_e (`VolatileTrace`).
- `lif`: leaky integrate-and-fire neurons in discrete time, reading their current from a crossbar.
- `stdp`: the traces of three-factor STDP (pre, post and eligibility), in discrete time.

`make_trace(kind, ...)` builds any trace option by name; all of them answer `init`, `accumulate`,
`eligibility` and `transfer` (see `traces`).
"""

from __future__ import annotations

import math

from crossbar.local.modulated import coincidences, modulated_update, transfer
from crossbar.local.traces import DigitalTrace, FactorisedTrace, check_lambda, check_trace_parameters, decay_factor
from crossbar.local.volatile import VolatileTrace, make_volatile_trace, settle
from devices.presets import diffusive_volatile
from devices.validation import check_choice

TRACE_KINDS = ("digital", "factorised", "volatile")


def make_trace(kind: str, rows: int, cols: int, *, tau: float | None = None, dt: float = 0.1,
               lam: float | None = None, device=None, e_max: float = 10.0, bl: int = 31, max_pulses: int = 100):
    """A validated eligibility trace of the kind named.

    Args:
        kind: "digital" (per synapse), "factorised" (pre x post, O(rows + cols)) or "volatile" (a relaxing
            crossbar; `device` is its model, tau_e = device.drift.tau, default `diffusive_volatile(tau)`).
        rows: Rows of the synapse array.
        cols: Columns of the synapse array.
        tau: Trace time constant (s); or give `lam`, the decay per step in (0, 1), and tau = -dt / ln(lam).
        dt: Time step (s).
        device: The volatile array's device (see `volatile.make_volatile_trace`).
        e_max: The volatile array's largest trace (see `volatile.make_volatile_trace`).
        bl: The volatile array's pulse train length (see `volatile.make_volatile_trace`).
        max_pulses: Most pulses per device in one transfer.

    Raises:
        ValueError: A bad value, naming the argument (e.g. lam outside (0, 1), tau <= 0).
        TypeError: An argument of the wrong type, naming it.
    """
    check_choice("kind", kind, TRACE_KINDS)
    if (tau is None) == (lam is None):
        raise ValueError(f"give exactly one of `tau` and `lam`; got tau={tau!r}, lam={lam!r}")
    if lam is not None:
        check_lambda("lam", lam)
        check_trace_parameters(1.0, dt)
        tau = -dt / math.log(lam)
    check_trace_parameters(tau, dt)
    if kind == "volatile":
        device = diffusive_volatile(tau) if device is None else device
        return make_volatile_trace(device, rows, cols, e_max=e_max, dt=dt, bl=bl, max_pulses=max_pulses)
    cls = DigitalTrace if kind == "digital" else FactorisedTrace
    return cls(rows=rows, cols=cols, tau=float(tau), dt=float(dt), max_pulses=max_pulses).validate()


__all__ = ["modulated_update", "transfer", "coincidences", "DigitalTrace", "FactorisedTrace", "VolatileTrace",
           "make_trace", "make_volatile_trace", "settle", "decay_factor", "check_lambda", "TRACE_KINDS"]
