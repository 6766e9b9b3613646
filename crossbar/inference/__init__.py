"""After training: programming a network onto arrays, drift to time t, read noise, drift compensation, evaluation.

`pcm_noise` (`PCMNoise`: aihwkit's PCM inference model), `rram_noise` (`CMONoise`: aihwkit's CMO/HfOx RRAM model;
`Wan2022Noise`: RRAM after Wan et al. 2022), `programmed` (`ProgrammedState`: devices as programmed), `layer`
(`ProgrammedDense`, `InferenceDense`: a dense layer programmed, and read at one time; the conductance split and
the compensations), `network` (`program`, `at_time`, `test_error`: any pytree of `crossbar.nn` layers),
`write_verify` (`program_by_pulses`: programming by closed-loop write-verify through the training device models).
Hardware-aware training is a `crossbar.nn` option (`crossbar.nn.HWADense`, `crossbar.nn.hardware_aware`).
"""

from crossbar.inference.layer import InferenceDense, ProgrammedDense, compensated
from crossbar.inference.network import COMPENSATIONS, at_time, program, program_layer, test_error
from crossbar.inference.pcm_noise import PCMNoise
from crossbar.inference.programmed import ProgrammedState
from crossbar.inference.rram_noise import CMONoise, Wan2022Noise
from crossbar.inference.write_verify import PulseProgrammedDense, program_by_pulses, program_layer_by_pulses

NOISE_MODELS = {"pcm": PCMNoise, "rram_cmo": CMONoise, "rram_wan2022": Wan2022Noise}

__all__ = ["PCMNoise", "CMONoise", "Wan2022Noise", "ProgrammedState", "ProgrammedDense", "InferenceDense",
           "compensated", "program", "program_layer", "at_time", "test_error", "COMPENSATIONS", "NOISE_MODELS",
           "PulseProgrammedDense", "program_by_pulses", "program_layer_by_pulses"]
