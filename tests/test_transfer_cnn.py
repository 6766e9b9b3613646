"""Convolutions trained by a transfer algorithm (`crossbar.nn.transfer_conv2d`) and the CNN's `--algorithm`: every
patch is one sample of the algorithm, a transfer-trained conv network learns the embedded digits, a checkpoint
carries A, C, the buffers and the choppers (a resumed run equals the uninterrupted one bit for bit), and bad
algorithms and hyperparameters are named. The CNN's command line with c-TTv2, resumed, is the slow test."""

from __future__ import annotations

import json
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from crossbar import array, energy, nn
from crossbar import transfer as T
from crossbar.periphery import ideal_periphery
from crossbar.training.checkpoint import load_pytree, save_pytree
from crossbar.training.data import load_digits
from crossbar.update import PulseUpdate
from devices import ConstantStep, SoftBounds
from experiments import lenet, train_cnn
from experiments.train_mlp import ALGORITHM_DEFAULTS

# A symmetric soft-bounds device (symmetry point mid-range: the transfer algorithms' ideal case), ideal periphery.
DEVICE = SoftBounds(g_min=0.0, g_max=10e-6, dg=2 * 10e-6 / 200)
BATCH, CHUNK = 8, 25
ALG = T.make_algorithm("c_ttv2", **ALGORITHM_DEFAULTS["c_ttv2"])  # the CLI's default c-TTv2
LR = 2.0  # the transfer's rate (c-TTv2's A learns at fast_lr, absolute): the tiny network needs a fast transfer
OPT = nn.analog_sgd(LR)


def compound(rows: int, cols: int) -> T.Compound:
    xb = array.make_crossbar(DEVICE, rows, cols, pair="reference", w_max=1.0, periphery=ideal_periphery())
    # The mid-range reference is this device's symmetry point (computing it per device costs seconds to compile).
    return T.make_compound(xb, transfer_forward=ideal_periphery(), reference="nominal")


def network(key) -> dict:
    """8x8 digits -> conv 3x3, 4 kernels (36 patches per image), tanh -> dense 144 -> 10; every layer on a
    compound with its bias line."""
    k1, k2, k3, k4 = jax.random.split(key, 4)
    kernel = jax.random.uniform(k1, (3, 3, 1, 4), minval=-0.5, maxval=0.5)
    w = jnp.concatenate([jax.random.uniform(k2, (144, 10), minval=-0.14, maxval=0.14), jnp.zeros((1, 10))])
    return {"conv": nn.transfer_conv2d(compound(10, 4), ALG, k3, (8, 8, 1), 3, kernel=kernel, batch=BATCH,
                                       bias_line=True),
            "out": nn.transfer_dense(compound(145, 10), ALG, k4, w, batch=BATCH, bias_line=True)}


@jax.jit
def logits(params, x, key):
    k1, k2 = jax.random.split(key)
    h = jnp.tanh(params["conv"](x.reshape(-1, 8, 8, 1), k1))
    return params["out"](h.reshape(h.shape[0], -1), k2)


def loss(params, x, y, key):
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits(params, x, key)), y[:, None], axis=1))


@jax.jit
def train_chunk(params, opt_state, xs, ys, keys):
    """`len(keys)` analog_sgd steps; (params, opt_state, per-step losses)."""
    def one(carry, batch):
        params, opt_state = carry
        x, y, key = batch
        k_read, k_update = jax.random.split(key)
        value, grads = jax.value_and_grad(loss, allow_int=True)(params, x, y, k_read)
        params, opt_state, _ = OPT.update(grads, opt_state, params, k_update)
        return (params, opt_state), value

    (params, opt_state), losses = jax.lax.scan(one, (params, opt_state), (xs, ys, keys))
    return params, opt_state, losses


DATA = load_digits()


def chunk_data(i: int):
    """The i-th chunk of CHUNK batches of the training digits (a fixed order) and its keys."""
    order = np.asarray(jax.random.permutation(jax.random.key(1), len(DATA.y_train)))
    idx = order[(np.arange(CHUNK * BATCH) + i * CHUNK * BATCH) % len(order)]
    xs, ys = DATA.x_train[idx].reshape(CHUNK, BATCH, 64), DATA.y_train[idx].reshape(CHUNK, BATCH)
    return jnp.asarray(xs), jnp.asarray(ys), jax.random.split(jax.random.fold_in(jax.random.key(2), i), CHUNK)


@pytest.mark.slow  # a program of its own to compile (7 s); the default run counts the patches in the learning test
def test_a_transfer_conv_reads_c_and_gives_the_algorithm_every_patch_as_a_sample():
    """Ideal arrays and pulses, TTv2 without transfers: the conv's forward read is the float convolution of C's
    kernel, and A after one step is -lr x the float gradient of the kernel matrix: the sum over all patches and
    images of x_p d_p^T (36 patches x 2 images here), i.e. the tape handed every patch to the algorithm."""
    xb = array.make_crossbar(ConstantStep(g_min=0.0, g_max=10e-6, dg=10e-6 / 1000), 5, 2, pair="reference",
                             w_max=1.0, periphery=ideal_periphery(), update_scheme=PulseUpdate(scheme="ideal"))
    cmp = T.make_compound(xb, transfer_forward=ideal_periphery(), transfer_update=PulseUpdate(scheme="ideal"),
                          reference="nominal")
    alg = T.make_algorithm("ttv2", transfer_every=0.0)  # A only
    kernel = jax.random.uniform(jax.random.key(0), (2, 2, 1, 2), minval=-0.4, maxval=0.4)
    layer = nn.transfer_conv2d(cmp, alg, jax.random.key(1), (7, 7, 1), 2, kernel=kernel, batch=2, bias_line=True)
    twin = nn.float_conv2d(kernel, (7, 7, 1), batch=2, bias_line=True)
    assert layer.dense.patches == 36 and layer.dense.tape.x.shape == (72, 5)
    x = jax.random.uniform(jax.random.key(2), (2, 7, 7, 1))

    def conv_loss(conv, key):
        return jnp.mean(jnp.sum(jnp.sin(conv(x, key)), axis=(1, 2, 3)))

    @jax.jit  # one program: eagerly, the reads and the update's per-patch loop dispatch op by op
    def step(layer, twin):
        grad = jax.grad(conv_loss, allow_int=True)(layer, jax.random.key(3))
        new, _ = layer.apply_update(grad, 0.01, jax.random.key(4))
        float_grad = jax.grad(conv_loss, allow_int=True)(twin, None).dense.tape.weight_grad()  # [5, 2], bias last
        return layer(x, jax.random.key(3)), twin(x), new, float_grad

    y, y_twin, new, float_grad = step(layer, twin)
    np.testing.assert_allclose(np.asarray(y), np.asarray(y_twin), atol=1e-5)
    a = array.weights(cmp.fast, new.dense.state.a)
    assert float(jnp.abs(a).max()) > 0.05  # well inside the arrays' range (w_max 1): nothing clipped
    np.testing.assert_allclose(np.asarray(a), -0.01 * np.asarray(float_grad), atol=1e-5)
    assert int(new.dense.state.count) == 72 and int(new.dense.state.reads) == 0
    np.testing.assert_array_equal(np.asarray(new.kernel), np.asarray(layer.kernel))  # C untouched: no transfer
    # An energy account prices C's array of the convolution (what `layer_specs` reads of a transfer layer).
    spec = energy.layer_specs([layer], [new])[0]
    assert (spec.rows, spec.cols) == (5, 2)


@pytest.mark.slow  # 20 s; the default run keeps the conv layer's resume and argument tests
def test_a_transfer_trained_conv_network_learns_the_digits():
    params = network(jax.random.key(0))
    opt_state = OPT.init(params)
    losses = []
    for i in range(4):  # 100 steps of 8 images, 36 patches each through the convolution's c-TTv2
        params, opt_state, chunk_losses = train_chunk(params, opt_state, *chunk_data(i))
        losses.append(float(jnp.mean(chunk_losses)))
    wrong = jnp.argmax(logits(params, jnp.asarray(DATA.x_test), jax.random.key(3)), axis=1) != jnp.asarray(DATA.y_test)
    error = float(jnp.mean(wrong))
    assert error < 0.25, error  # chance: 0.9 (measured 0.087; float SGD at lr 0.1: 0.064)
    assert losses[-1] < 0.5 * losses[0], losses
    conv = params["conv"].dense.state
    assert int(conv.reads) == 100 * BATCH * 36  # a transfer read per patch (transfer_every 1 sample)
    assert float(jnp.abs(params["conv"].kernel - network(jax.random.key(0))["conv"].kernel).max()) > 0.05


@pytest.mark.slow  # 18 s of compilation
def test_a_checkpoint_carries_the_transfer_state_and_resumes_bit_for_bit(tmp_path):
    start = network(jax.random.key(0))
    whole, opt_whole = start, OPT.init(start)
    for i in range(2):
        whole, opt_whole, _ = train_chunk(whole, opt_whole, *chunk_data(i))
    part, opt_part, _ = train_chunk(start, OPT.init(start), *chunk_data(0))
    state = part["conv"].dense.state  # what the checkpoint must hold: buffers, flipped choppers, counts
    assert float(jnp.abs(state.h).max()) > 0 and bool(jnp.any(state.in_chop)) and int(state.reads) > 0
    save_pytree(tmp_path / "ckpt.npz", (part, opt_part), meta={"chunks": 1})
    (loaded, opt_loaded), meta = load_pytree(tmp_path / "ckpt.npz", (start, OPT.init(start)))
    assert meta == {"chunks": 1}
    for got, want in zip(jax.tree_util.tree_leaves(loaded), jax.tree_util.tree_leaves(part), strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    resumed, _, _ = train_chunk(loaded, opt_loaded, *chunk_data(1))
    for got, want in zip(jax.tree_util.tree_leaves(resumed), jax.tree_util.tree_leaves(whole), strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    # The transfer state is not a passenger: resuming with C, A and buffers reset would not give that run.
    reset = replace(loaded["conv"], dense=replace(loaded["conv"].dense, state=start["conv"].dense.state))
    other, _, _ = train_chunk({**loaded, "conv": reset}, opt_loaded, *chunk_data(1))
    assert not np.array_equal(np.asarray(other["conv"].kernel), np.asarray(whole["conv"].kernel))


@pytest.mark.parametrize("args, match", [
    (["--algorithm", "adam"], "algorithm"),
    (["--hyper", "fast_lr=0.1"], "hyper"),
    (["--algorithm", "c_ttv2", "--hyper", "thres_scale=1"], "thres_scale"),
    (["--algorithm", "agad", "--hyper", "fast_lr=-1"], "fast_lr"),
    (["--algorithm", "ttv2", "--hyper", "gamma=0.5"], "gamma"),
    (["--algorithm", "c_ttv2", "--reference", "guessed"], "reference"),
    (["--algorithm", "c_ttv2", "--reference-std", "-0.1"], "reference_std"),
])
def test_bad_algorithms_and_hyperparameters_are_named_before_training(tmp_path, args, match):
    with pytest.raises(ValueError, match=match):
        train_cnn.main(["--out", str(tmp_path / "bad"), "--mnist-dir", str(tmp_path / "missing"), *args])


def test_bad_layer_arguments_are_named():
    with pytest.raises(ValueError, match="cmp.rows"):
        nn.transfer_conv2d(compound(9, 4), ALG, jax.random.key(0), (8, 8, 1), 3, bias_line=True)
    with pytest.raises(TypeError, match="algorithm"):
        nn.transfer_conv2d(compound(10, 4), "c_ttv2", jax.random.key(0), (8, 8, 1), 3, bias_line=True)
    with pytest.raises(ValueError, match="kernel_size"):
        nn.transfer_conv2d(compound(10, 4), ALG, jax.random.key(0), (2, 2, 1), 3, bias_line=True)


@pytest.mark.slow  # the GOH2017 CNN on transfer-trained arrays, three runs (over a minute of compiling)
def test_the_cnn_with_c_ttv2_resumes_to_the_uninterrupted_result(tmp_path):
    from tests.test_data import _make_mnist

    data_dir = tmp_path / "mnist"
    _make_mnist(data_dir, n_train=8, n_test=4)
    common = ["--mnist-dir", str(data_dir), "--backends", "crossbar", "--steps-per-call", "1", "--no-progress",
              "--batch-size", "4", "--device", "reram_sb_aihwkit", "--algorithm", "c_ttv2", "--hyper",
              "in_chop_prob=0.3"]
    whole = train_cnn.main([*common, "--epochs", "2", "--out", str(tmp_path / "whole")])
    train_cnn.main([*common, "--epochs", "1", "--out", str(tmp_path / "parts")])
    resumed = train_cnn.main([*common, "--epochs", "2", "--resume", "--out", str(tmp_path / "parts")])
    a, b = whole["backends"]["crossbar"], resumed["backends"]["crossbar"]
    assert a["train_loss"] == b["train_loss"] and a["test_error"] == b["test_error"]
    args = train_cnn.build_parser().parse_args(common[6:])
    template = train_cnn.make_network("crossbar", args, 4)
    assert all(isinstance(layer.dense if name in lenet.CONVS else layer, nn.TransferDense)
               for name, layer in template.items())
    template = (template, nn.analog_sgd(args.lr).init(template))
    (p1, _), _ = load_pytree(tmp_path / "whole" / "checkpoint_crossbar.npz", template)
    (p2, _), _ = load_pytree(tmp_path / "parts" / "checkpoint_crossbar.npz", template)
    for got, want in zip(jax.tree_util.tree_leaves(p2), jax.tree_util.tree_leaves(p1), strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    assert int(p1["c1"].dense.state.reads) == 2 * 8 * 576  # every patch of both epochs made its transfer read
    saved = json.loads((tmp_path / "whole" / "results.json").read_text())
    assert saved["meta"]["algorithm"] == "c_ttv2" and saved["meta"]["hyperparameters"]["in_chop_prob"] == 0.3
