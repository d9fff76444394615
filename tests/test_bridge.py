"""grading/bridge.py: the typed data that crosses from the student's kernel to the grader, and a
live bridge to a kernel (unsandboxed here: the sandbox is tested by the grading suites).

The decoder is the only code that reads what a student's kernel sends: it must rebuild plain
objects and refuse everything else with StudentKernelError, never execute or unpickle.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile

import pytest
import torch

from grading import bridge as b


def remote_factory(ident, type_name, is_callable):
    return ("handle", ident, type_name, is_callable)


def tensor_data(t: torch.Tensor, **changes) -> dict:
    data = b.encode(t)
    data.update(changes)
    return data


@pytest.mark.parametrize(
    "value",
    [
        None, True, 3, -2**70, "text", 1.5, float("inf"), -0.0,
        (1, 2.5, "a"), [1, [2, (3,)]], {"a": 1, 2: (3,)},
        torch.float64, torch.Size([2, 3]),
    ],
)  # fmt: skip
def test_plain_values_cross_unchanged(value):
    got = b.decode(json.loads(json.dumps(b.encode(value))), remote_factory)
    expected = tuple(value) if isinstance(value, torch.Size) else value
    assert got == expected and type(got) is type(expected)


def test_nan_crosses_as_nan():
    got = b.decode(b.encode(float("nan")), remote_factory)
    assert type(got) is float and got != got


@pytest.mark.parametrize("dtype", sorted(b.DTYPES))
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3, 4)])
def test_tensors_are_rebuilt_plain_from_bytes(dtype, shape):
    t = (torch.arange(int(torch.tensor(shape).prod()) if shape else 1) % 3).reshape(shape).to(b.DTYPES[dtype])
    got = b.decode(json.loads(json.dumps(b.encode(t))), remote_factory)
    assert type(got) is torch.Tensor and got.dtype == t.dtype and got.shape == t.shape
    assert torch.equal(got, t)


def test_non_contiguous_and_one_element_views_are_sent_by_value():
    base = torch.arange(24.0, dtype=torch.float64).reshape(4, 6)
    for view in (base.t(), base[:, ::2], base[1:2, 3:4], base[0, ::5]):
        got = b.decode(b.encode(view), remote_factory)
        assert torch.equal(got, view) and got.is_contiguous()


def test_a_tensor_subclass_comes_back_as_a_plain_tensor():
    class Liar(torch.Tensor):
        pass

    got = b.decode(b.encode(torch.zeros(2).as_subclass(Liar)), remote_factory)
    assert type(got) is torch.Tensor


@pytest.mark.parametrize(
    "data, why",
    [
        ({"t": "pickle", "v": "gASVAAAAAAAAAAA="}, "unknown value type"),
        ({"t": "tensor", "dtype": "object", "shape": [1], "data": ""}, "unknown dtype"),
        (tensor_data(torch.zeros(4), shape=[5]), "bytes"),
        (tensor_data(torch.zeros(4), shape=[2, "2"]), "shape"),
        (tensor_data(torch.zeros(4), data="not base64!"), ""),
        ({"t": "float", "v": 1.5}, "malformed"),
        ({"t": "tuple", "v": "abc"}, "malformed"),
        ({"t": "dict", "v": [[1]]}, "malformed dict"),
        ({"t": "handle", "id": "1", "type": "x"}, "malformed handle"),
        ({"no": "tag"}, "malformed"),
        (1.5, "malformed"),
    ],
)
def test_malformed_data_is_refused(data, why):
    with pytest.raises((b.StudentKernelError, ValueError)) as info:
        b.decode(data, remote_factory)
    assert why in str(info.value)


def test_nesting_and_size_are_bounded():
    deep = 1
    for _ in range(b.MAX_DEPTH + 2):
        deep = [deep]
    with pytest.raises(b.StudentKernelError, match="nested too deeply"):
        b.decode(deep, remote_factory)
    with pytest.raises(b.StudentKernelError, match="million"):
        b.decode([0] * (b.MAX_ITEMS + 1), remote_factory)


def test_handles_become_remote_objects_and_only_typed_arguments_can_be_sent():
    assert b.decode({"t": "handle", "id": 7, "type": "LeNet5", "callable": True}, remote_factory) == (
        "handle", 7, "LeNet5", True,
    )  # fmt: skip
    with pytest.raises(TypeError, match="cannot be sent"):
        b.encode(lambda: 1)
    with pytest.raises(TypeError, match="cannot be sent"):
        b.encode(object())


def test_the_kit_checks_always_run_here_and_helpers_go_to_the_student_only_for_student_objects():
    sent = []

    class FakeBridge:
        scratch = 0

        def request(self, op, target, args, kwargs):
            sent.append((op, target["attr"]))
            return 61706

    class Kit:
        @staticmethod
        def check_equal(name, got, expected):
            if not (type(got) is type(expected) and got == expected):
                raise AssertionError(f"{name}: expected {expected!r}, got {got!r}")

        @staticmethod
        def from_scratch():
            raise AssertionError("the kit's own from_scratch is not used on the trusted side")

        @staticmethod
        def param_count(model):
            return sum(p.numel() for p in model.parameters())

    kit = b.TrustedKit(Kit, FakeBridge())
    remote = b.Remote(FakeBridge(), ident=1, type_name="LeNet5")
    assert kit.param_count(remote) == 61706 and sent == [("kit", "param_count")]
    assert kit.param_count(torch.nn.Linear(2, 3)) == 9 and len(sent) == 1  # a local object stays local
    with pytest.raises(AssertionError):
        kit.check_equal("a handle", remote, 61706)  # never delegated: the student cannot answer a check
    with kit.from_scratch():
        assert kit._bridge.scratch == 1
    assert kit._bridge.scratch == 0


# -- a live bridge -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def kernel():
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    socket_dir = tempfile.mkdtemp(prefix="test-bridge-")
    os.chmod(socket_dir, 0o755)
    bridge = b.Bridge(km.get_connection_info(), km.is_alive, km.interrupt_kernel, socket_dir)
    yield km, kc, bridge
    bridge.close()
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def run(kc, code: str) -> None:
    reply = kc.execute_interactive(code, timeout=60)
    assert reply["content"]["status"] == "ok", reply["content"]


def test_a_live_call_returns_fresh_values_exceptions_and_in_place_changes(kernel):
    km, kc, bridge = kernel
    run(
        kc,
        "import torch\n"
        "def double(x):\n    return 2 * x\n"
        "def picky(n):\n    raise ValueError(f'bad n {n}')\n"
        "def sneaky(x):\n    x.mul_(3)\n    return None\n"
        "def draw(g):\n    return torch.rand(3, generator=g)\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.fc = torch.nn.Linear(2, 1)\n"
        "    def forward(self, x):\n        return self.fc(x)\n"
        "_T = None\n",
    )
    assert bridge.install(30)
    try:
        x = torch.arange(4.0)
        got = b.Remote(bridge, name="double")(x)
        assert type(got) is torch.Tensor and torch.equal(got, 2 * x)
        with pytest.raises(ValueError, match="bad n 3"):
            b.Remote(bridge, name="picky")(3)
        with pytest.raises(NameError, match="missing"):
            b.Remote(bridge, name="missing")()
        y = torch.ones(3)
        b.Remote(bridge, name="sneaky")(y)
        assert torch.equal(y, torch.full((3,), 3.0)), "an in-place change must be seen by check_unchanged"
        g = torch.Generator().manual_seed(0)
        first = b.Remote(bridge, name="draw")(g)
        assert torch.equal(first, torch.rand(3, generator=torch.Generator().manual_seed(0)))
        assert not torch.equal(b.Remote(bridge, name="draw")(g), first), "the generator's state comes back"
        net = b.Remote(bridge, name="Net")()
        assert isinstance(net, b.Remote) and isinstance(net.fc, b.Remote)
        assert getattr(net, "nothing", None) is None
        assert b.Remote(bridge, name="double")(net.fc.weight).shape == (1, 2)
        assert net(torch.zeros(5, 2)).shape == (5, 1)
    finally:
        bridge.end_cell()


def test_a_forged_agent_can_only_send_typed_data(kernel):
    km, kc, bridge = kernel
    if not bridge.ready:
        assert bridge.install(30)
    forged = json.dumps({"ok": True, "value": {"t": "pickle", "v": base64.b64encode(b"os.system").decode()}})
    run(kc, f"{bridge.agent}.handle = lambda request: setattr({bridge.agent}, 'last', {forged!r})")
    try:
        with pytest.raises(b.StudentKernelError, match="unknown value type"):
            b.Remote(bridge, name="double")(1)
        bridge.end_cell()  # the test cell ends: the kernel is free to run a cell again
        run(kc, f"{bridge.agent}.handle = lambda request: setattr({bridge.agent}, 'last', 'not json')")
        with pytest.raises(b.StudentKernelError, match="no readable answer"):
            b.Remote(bridge, name="double")(1)
    finally:
        bridge.end_cell()


def test_a_looping_call_is_interrupted_at_its_time_limit(kernel):
    km, kc, bridge = kernel
    run(kc, "import time\ndef forever():\n    while True:\n        time.sleep(0.01)\n")
    bridge2 = b.Bridge(km.get_connection_info(), km.is_alive, km.interrupt_kernel, tempfile.mkdtemp())
    try:
        assert bridge2.install(30)
        import time

        bridge2.deadline = time.monotonic() + 2
        start = time.monotonic()
        with pytest.raises(b.StudentTimeout):
            b.Remote(bridge2, name="forever")()
        assert time.monotonic() - start < 10
        with pytest.raises(b.StudentTimeout):  # the cell's other calls fail at once
            b.Remote(bridge2, name="forever")()
    finally:
        bridge2.end_cell()
        bridge2.close()
