"""Crossbar arrays of memristive devices and what runs on them.

`array` (forward / transpose reads and pulsed updates of one array), `mapping` (weights <-> conductances),
`periphery` (DAC/ADC and their management), `update` (pulse-coincidence and other update schemes),
`programming` (write-verify), `circuit` (Kirchhoff solver for wire resistance), `mlp` / `backends` /
`training` (one training loop, float and crossbar back ends), `nn` (analog dense and conv layers for any JAX
model, `analog_sgd`), `data` (datasets), `sweep` (parameter grids).
"""
