"""Two processes: the student's code in the sandboxed kernel, the tests in the grader.

In autograde (`SandboxedExecute.two_process`, on by default) the cells of a submission run in
two places:

- answer cells, cells the student added and the instructor's demo cells run in the student's
  sandboxed kernel, as before;
- the locked setup cells above the first answer (imports, the test kit `_T`) run in both;
- test cells (nbgrader grade cells) run here, in the grader's own process, on references that
  the grader's untouched torch computes. Student code cannot reach this process.

In this process each graded name (every function and class the assignment's answer cells
define, read from the gradebook) is a `Remote`: calling it sends the arguments to the student's
kernel as typed data, the student's function runs there, and only typed data comes back
(`decode`): None, bool, int, float, str, lists, tuples and dicts of those, `torch.Tensor` built
afresh from dtype, shape and bytes, `torch.dtype`, `torch.Generator` (its state), and an
exception as its type name and message. Nothing the student's kernel sends is unpickled or
executed here. Any other object (an `nn.Module`, a bound method) stays in the student's
kernel and is represented here by a `Remote` handle: calling it or reading an attribute asks
the student's kernel again. Test-kit helpers that inspect such an object (`_T.param_count(net)`,
`_T.trace(model, x, names)`) run in the student's kernel on it and return typed data; the kit's
checks (`_T.check_*`) always run here, so a handle passed to a check fails it.

`with _T.from_scratch():` in a test cell marks the calls made inside it: the student's kernel
wraps each such call in its own copy of the kit's `from_scratch()` (captured before any answer
cell ran), which blocks torch's convolution, pooling, normalization and dropout functions.

The wire: each call is one silent `execute_request` to the student's kernel over a client of
our own; the request travels as JSON text inside the code, the answer comes back as the
`user_expressions` value of that request (the repr of one JSON string, read back with
`ast.literal_eval`, then `json.loads`, then `decode`, each with size limits).
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import io
import json
import os
import secrets
import struct
import time
import traceback
import warnings

import torch

MAX_REPLY_CHARS = 400_000_000  # about 300 MB of tensor bytes in base64
MAX_ITEMS = 1_000_000  # values in one decoded reply (a list of a million ints is already odd)
MAX_DEPTH = 32

DTYPES = {
    name: getattr(torch, name)
    for name in (
        "float16", "bfloat16", "float32", "float64", "complex64", "complex128",
        "uint8", "int8", "int16", "int32", "int64", "bool",
    )
}  # fmt: skip
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}

# exceptions a student's function may raise that come back as themselves (check_raises needs
# ValueError; a missing attribute must be an AttributeError for getattr(obj, name, default))
EXCEPTIONS = {
    name: getattr(builtins, name)
    for name in (
        "ArithmeticError", "AssertionError", "AttributeError", "IndexError", "KeyError", "LookupError",
        "MemoryError", "NameError", "NotImplementedError", "OverflowError", "RecursionError",
        "RuntimeError", "StopIteration", "TypeError", "UnboundLocalError", "ValueError",
        "ZeroDivisionError",
    )
}  # fmt: skip


class StudentError(Exception):
    """An exception of another type, raised by the student's code (its type name is in the message)."""


class StudentKernelError(RuntimeError):
    """The student's kernel gave no usable answer (it died, hung, or sent something malformed)."""


class StudentTimeout(TimeoutError):
    """The student's code did not return within the cell's time limit (it was interrupted)."""


# -- typed data: the trusted side's decoder and encoder ----------------------------------------
class _Budget:
    def __init__(self):
        self.items = 0

    def tick(self):
        self.items += 1
        if self.items > MAX_ITEMS:
            raise StudentKernelError("the student's kernel sent more than a million values")


def decode(data, remote_factory, budget: _Budget | None = None, depth: int = 0):
    """A fresh plain object from typed data (nested lists/dicts of JSON values), else StudentKernelError."""
    budget = budget or _Budget()
    budget.tick()
    if depth > MAX_DEPTH:
        raise StudentKernelError("the student's answer is nested too deeply")
    if data is None or type(data) in (bool, int, str):
        return data
    if type(data) is list:
        return [decode(v, remote_factory, budget, depth + 1) for v in data]
    if type(data) is not dict or type(data.get("t")) is not str:
        raise StudentKernelError(f"malformed value from the student's kernel: {type(data).__name__}")
    tag = data["t"]
    if tag == "float":
        return float.fromhex(_string(data, "v"))
    if tag == "tuple":
        return tuple(decode(v, remote_factory, budget, depth + 1) for v in _list(data, "v"))
    if tag == "dict":
        items = _list(data, "v")
        out = {}
        for pair in items:
            if type(pair) is not list or len(pair) != 2:
                raise StudentKernelError("malformed dict from the student's kernel")
            out[decode(pair[0], remote_factory, budget, depth + 1)] = decode(pair[1], remote_factory, budget, depth + 1)
        return out
    if tag == "tensor":
        return _tensor(data)
    if tag == "dtype":
        name = _string(data, "v")
        if name not in DTYPES:
            raise StudentKernelError(f"unknown dtype {name!r}")
        return DTYPES[name]
    if tag == "generator":
        g = torch.Generator()
        g.set_state(_tensor({"t": "tensor", "dtype": "uint8", "shape": [-1], "data": _string(data, "v")}))
        return g
    if tag == "handle":
        ident = data.get("id")
        if type(ident) is not int:
            raise StudentKernelError("malformed handle")
        return remote_factory(ident, _string(data, "type")[:200], bool(data.get("callable")))
    raise StudentKernelError(f"unknown value type {tag!r} from the student's kernel")


def _string(data: dict, key: str) -> str:
    value = data.get(key)
    if type(value) is not str:
        raise StudentKernelError(f"malformed value from the student's kernel ({key})")
    return value


def _list(data: dict, key: str) -> list:
    value = data.get(key)
    if type(value) is not list:
        raise StudentKernelError(f"malformed value from the student's kernel ({key})")
    return value


def _tensor(data: dict) -> torch.Tensor:
    name = _string(data, "dtype")
    if name not in DTYPES:
        raise StudentKernelError(f"unknown dtype {name!r}")
    dtype = DTYPES[name]
    shape = _list(data, "shape")
    if not all(type(s) is int and s >= -1 for s in shape) or len(shape) > 16:
        raise StudentKernelError("malformed tensor shape")
    raw = base64.b64decode(_string(data, "data"), validate=True)
    itemsize = torch.empty((), dtype=dtype).element_size()
    if shape == [-1]:
        shape = [len(raw) // itemsize]
    numel = 1
    for s in shape:
        numel *= s
    if numel * itemsize != len(raw):
        raise StudentKernelError(f"a tensor of shape {tuple(shape)} and dtype {name} with {len(raw)} bytes")
    if numel == 0:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape)


def encode(value, depth: int = 0):
    """Typed data for a value a test passes to the student's code (TypeError for anything else)."""
    if depth > MAX_DEPTH:
        raise TypeError("an argument nested too deeply to send to the student's kernel")
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return {"t": "float", "v": value.hex()}
    if isinstance(value, Remote):
        return {"t": "handle", "id": object.__getattribute__(value, "_id")}
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        if t.dtype not in DTYPE_NAMES:
            raise TypeError(f"a tensor of dtype {t.dtype} cannot be sent to the student's kernel")
        raw = (
            torch.empty(t.numel(), dtype=t.dtype).copy_(t.reshape(-1)).view(torch.uint8).numpy().tobytes()
            if t.numel()
            else b""
        )
        return {
            "t": "tensor",
            "dtype": DTYPE_NAMES[t.dtype],
            "shape": list(t.shape),
            "data": base64.b64encode(raw).decode("ascii"),
            "grad": bool(value.requires_grad),
        }
    if isinstance(value, torch.dtype):
        return {"t": "dtype", "v": DTYPE_NAMES[value]}
    if isinstance(value, torch.Generator):
        return {"t": "generator", "v": base64.b64encode(value.get_state().numpy().tobytes()).decode("ascii")}
    if isinstance(value, torch.Size):
        return {"t": "tuple", "v": [encode(v, depth + 1) for v in value]}
    if type(value) is tuple:
        return {"t": "tuple", "v": [encode(v, depth + 1) for v in value]}
    if type(value) is list:
        return [encode(v, depth + 1) for v in value]
    if type(value) is dict:
        return {"t": "dict", "v": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    if type(value) is slice:
        return {"t": "slice", "v": [encode(value.start), encode(value.stop), encode(value.step)]}
    raise TypeError(f"{type(value).__name__} cannot be sent to the student's kernel")


# -- the student's side: source code sent to the student's kernel ---------------------------------
# It runs in the student's kernel, which the student controls: whatever it answers is treated as
# the student's answer, never trusted. Keeping it honest is not a security property.
AGENT_SOURCE = r"""
def _make_grader_agent(user_ns):
    import base64, builtins, json, torch
    kit = user_ns.get("_T")
    scratch = getattr(kit, "from_scratch", None)
    enter = eval("lambda cm: cm.__enter__()", user_ns)  # the kit replaces banned names in user_ns
    dtypes = {n: getattr(torch, n) for n in DTYPE_NAMES_LIST}
    names = {v: k for k, v in dtypes.items()}
    handles, counter = {}, [0]

    def dec(v):
        if v is None or type(v) in (bool, int, str):
            return v
        if type(v) is list:
            return [dec(x) for x in v]
        t = v["t"]
        if t == "float":
            return float.fromhex(v["v"])
        if t == "tuple":
            return tuple(dec(x) for x in v["v"])
        if t == "dict":
            return {dec(k): dec(x) for k, x in v["v"]}
        if t == "slice":
            return slice(*[dec(x) for x in v["v"]])
        if t == "tensor":
            raw = base64.b64decode(v["data"])
            d = dtypes[v["dtype"]]
            if not raw:
                return torch.empty(v["shape"], dtype=d)
            out = torch.frombuffer(bytearray(raw), dtype=d).reshape(v["shape"])
            return out.requires_grad_(True) if v.get("grad") else out
        if t == "dtype":
            return dtypes[v["v"]]
        if t == "generator":
            g = torch.Generator()
            g.set_state(torch.frombuffer(bytearray(base64.b64decode(v["v"])), dtype=torch.uint8))
            return g
        if t == "handle":
            return handles[v["id"]]
        raise TypeError(t)

    def enc(v, depth=0):
        if depth > 30:
            raise ValueError("nested too deeply")
        if v is None or type(v) in (bool, int, str):
            return v
        if type(v) is float:
            return {"t": "float", "v": v.hex()}
        if isinstance(v, torch.Tensor):
            t = torch.Tensor.contiguous(torch.Tensor.cpu(torch.Tensor.detach(v)))
            if t.dtype in names:
                flat = torch.empty(t.numel(), dtype=t.dtype).copy_(t.reshape(-1))
                raw = flat.view(torch.uint8).numpy().tobytes() if t.numel() else b""
                return {"t": "tensor", "dtype": names[t.dtype], "shape": list(t.shape),
                        "data": base64.b64encode(raw).decode("ascii")}
        if isinstance(v, torch.dtype) and v in names:
            return {"t": "dtype", "v": names[v]}
        if isinstance(v, torch.Generator):
            return {"t": "generator", "v": base64.b64encode(v.get_state().numpy().tobytes()).decode("ascii")}
        if type(v) is tuple or isinstance(v, torch.Size):
            return {"t": "tuple", "v": [enc(x, depth + 1) for x in v]}
        if type(v) is list:
            return [enc(x, depth + 1) for x in v]
        if type(v) is dict:
            return {"t": "dict", "v": [[enc(k, depth + 1), enc(x, depth + 1)] for k, x in v.items()]}
        counter[0] += 1
        handles[counter[0]] = v
        return {"t": "handle", "id": counter[0], "type": type(v).__name__, "callable": callable(v)}

    def handle(request):
        req = json.loads(request)
        args, kwargs = dec(req["args"]), dec(req["kwargs"])
        before = [(i, a.clone()) for i, a in enumerate(args) if type(a) is torch.Tensor]
        gens = [(i, a) for i, a in enumerate(args) if isinstance(a, torch.Generator)]
        gens += [(k, a) for k, a in kwargs.items() if isinstance(a, torch.Generator)]
        try:
            op = req["op"]
            if op == "call":
                if "id" in req:
                    target = handles[req["id"]]
                elif req["name"] in user_ns:
                    target = user_ns[req["name"]]
                else:
                    raise NameError(f"name {req['name']!r} is not defined")
            elif op == "getattr":
                value = getattr(handles[req["id"]], req["attr"])
            elif op == "kit":
                target = getattr(kit, req["attr"])
            if op != "getattr":
                cm = scratch() if (req.get("scratch") and scratch is not None) else None
                if cm is not None:
                    enter(cm)
                try:
                    value = target(*args, **kwargs)
                except BaseException as exc:
                    if cm is not None:
                        cm.__exit__(type(exc), exc, None)
                    raise
                if cm is not None:
                    cm.__exit__(None, None, None)
            changed = [[i, enc(args[i])] for i, old in before if not torch.equal(args[i], old)]
            answer = {"ok": True, "value": enc(value), "changed": changed,
                      "generators": [[k, enc(g)] for k, g in gens]}
        except BaseException as exc:
            answer = {"ok": False, "type": type(exc).__name__, "message": str(exc)[:2000]}
        agent.last = json.dumps(answer)
        return None

    class Agent:
        last = ""
    agent = Agent()
    agent.handle = handle

    import socket
    import struct

    conn = []

    def recv_frame(sock):
        head = sock.recv(8, socket.MSG_WAITALL)
        if len(head) < 8:
            return None
        (n,) = struct.unpack("!Q", head)
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        while got < n:
            k = sock.recv_into(view[got:])
            if not k:
                return None
            got += k
        return bytes(buf)

    def serve():
        if not conn:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(SOCKET_PATH)
            conn.append(sock)
        sock = conn[0]
        while True:
            q = recv_frame(sock)
            if q is None or q == b"end":
                return
            agent.last = ""
            agent.handle(q.decode())
            data = agent.last.encode()
            sock.sendall(struct.pack("!Q", len(data)) + data)

    def opened(comm, msg):
        def on_msg(m):
            if m["content"]["data"].get("q") == "serve":
                serve()
        comm.on_msg(on_msg)

    get_ipython().kernel.comm_manager.register_target(TARGET_NAME, opened)
    return agent
"""


class Remote:
    """A function, class or object that lives in the student's kernel, seen from the trusted side."""

    __slots__ = ("_bridge", "_id", "_name", "_type", "_callable")

    def __init__(self, bridge, ident=None, name=None, type_name="function", is_callable=True):
        object.__setattr__(self, "_bridge", bridge)
        object.__setattr__(self, "_id", ident)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "_callable", is_callable)

    def __call__(self, *args, **kwargs):
        get = object.__getattribute__
        target = {"name": get(self, "_name")} if get(self, "_id") is None else {"id": get(self, "_id")}
        return get(self, "_bridge").request("call", target, args, kwargs)

    def __getattr__(self, attr):
        get = object.__getattribute__
        if attr.startswith("__") or get(self, "_id") is None:
            raise AttributeError(attr)
        return get(self, "_bridge").request("getattr", {"id": get(self, "_id"), "attr": attr}, (), {})

    def __setattr__(self, attr, value):
        raise AttributeError("objects of the student's kernel cannot be changed from a test")

    def __repr__(self):
        get = object.__getattribute__
        return get(self, "_name") or f"<{get(self, '_type')} object>"

    def __bool__(self):
        return True


def _contains_remote(value, depth=0) -> bool:
    if isinstance(value, Remote):
        return True
    if depth < 8 and type(value) in (list, tuple):
        return any(_contains_remote(v, depth + 1) for v in value)
    if depth < 8 and type(value) is dict:
        return any(_contains_remote(v, depth + 1) for v in value.values())
    return False


class _Scratch:
    """`_T.from_scratch()` on the trusted side: calls made inside it run under the student kernel's."""

    def __init__(self, bridge):
        self.bridge = bridge

    def __enter__(self):
        self.bridge.scratch += 1
        return self

    def __exit__(self, *exc):
        self.bridge.scratch -= 1
        return False


class TrustedKit:
    """The kit `_T` as the trusted side's test cells see it: its own functions, except that
    `from_scratch()` marks student calls, and a helper given an object of the student's kernel
    (not a check: those always run here) runs in the student's kernel on that object."""

    def __init__(self, kit, bridge):
        object.__setattr__(self, "_kit", kit)
        object.__setattr__(self, "_bridge", bridge)

    def __getattr__(self, name):
        kit, bridge = object.__getattribute__(self, "_kit"), object.__getattribute__(self, "_bridge")
        value = getattr(kit, name)
        if name == "from_scratch":
            return lambda: _Scratch(bridge)
        if not callable(value) or name.startswith("check") or isinstance(value, type):
            return value

        def helper(*args, **kwargs):
            if _contains_remote(args) or _contains_remote(kwargs):
                return bridge.request("kit", {"attr": name}, args, kwargs)
            return value(*args, **kwargs)

        return helper


class Bridge:
    """The trusted side's connection to the student's kernel.

    Set-up: the agent (AGENT_SOURCE) is defined in the student's kernel by one silent
    `execute_request`, and a Jupyter comm to it is opened. Calls: at its first call a test cell
    sends the comm message "serve"; the agent then answers requests on a Unix socket that this
    side listens on (a file in the sandbox's socket folder, the only one its kernel can reach),
    one length-prefixed JSON frame each way per call (about 0.1 ms of transport), until the
    cell ends ("end")."""

    def __init__(self, connection_info: dict, is_alive, interrupt, socket_dir: str, uid: int | None = None):
        import socket

        from jupyter_client.blocking import BlockingKernelClient

        self.client = BlockingKernelClient()
        self.client.load_connection_info(connection_info)
        self.client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
        self.is_alive, self.interrupt = is_alive, interrupt
        token = secrets.token_hex(8)
        self.agent, self.target, self.comm_id = f"__grader_agent_{token}", f"grader_{token}", secrets.token_hex(16)
        self.path = os.path.join(socket_dir, f"g{token[:6]}")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        if uid is not None:
            os.chown(self.path, uid, uid)
        os.chmod(self.path, 0o600 if uid is not None else 0o666)
        self.listener.listen(1)
        self.conn = None
        self.serving = False
        self.scratch = 0
        self.calls = 0
        self.deadline = None  # set per test cell
        self.dead = False
        self.expired = False  # a call of this test cell ran out of time: the others fail at once
        self.timeout_text = "the time limit"
        self.ready = False  # install() succeeded
        self.failure = ""

    def close(self):
        for closing in (self.conn, self.listener):
            with contextlib.suppress(Exception):
                if closing is not None:
                    closing.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        with contextlib.suppress(Exception):
            self.client.stop_channels()

    def _send(self, msg_type: str, content: dict) -> str:
        msg = self.client.session.msg(msg_type, content)
        self.client.shell_channel.send(msg)
        return msg["header"]["msg_id"]

    def install(self, timeout: float = 60) -> bool:
        """Define the agent in the student's kernel (right after the locked setup cells ran) and
        open its comm; False when the student's kernel cannot run it."""
        source = (
            AGENT_SOURCE.replace("DTYPE_NAMES_LIST", repr(sorted(DTYPES)))
            .replace("TARGET_NAME", repr(self.target))
            .replace("SOCKET_PATH", repr(self.path))
        )
        code = (
            f"exec(compile({source!r}, '<grader agent>', 'exec'), __grader_ns := {{}})\n"
            f"{self.agent} = __grader_ns['_make_grader_agent'](globals())\n"
            f"del __grader_ns"
        )
        msg_id = self.client.execute(code, silent=True, store_history=False)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                reply = self.client.get_shell_msg(timeout=1.0)
            except Exception:  # queue.Empty
                if not self.is_alive():
                    self.failure = "the student's kernel died"
                    return False
                continue
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                if (reply.get("content") or {}).get("status") != "ok":
                    self.failure = "the agent did not start in the student's kernel"
                    return False
                self._send("comm_open", {"comm_id": self.comm_id, "target_name": self.target, "data": {}})
                self.ready = True
                return True
        self.failure = "the student's kernel did not answer"
        return False

    # -- one frame each way
    def _begin(self, left: float) -> None:
        """Ask the agent to serve this cell's calls (and accept its connection the first time)."""

        self._send("comm_msg", {"comm_id": self.comm_id, "data": {"q": "serve"}})
        self.serving = True
        if self.conn is None:
            self.listener.settimeout(max(1.0, min(left, 30.0)))
            try:
                self.conn, _ = self.listener.accept()
            except (TimeoutError, OSError):
                self.dead = not self.is_alive()
                raise StudentKernelError("the student's kernel did not connect to the grader") from None

    def end_cell(self) -> None:
        """The cell's calls are over: the agent leaves its loop and the kernel is free again."""
        if self.serving and self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.sendall(struct.pack("!Q", 3) + b"end")
        self.serving = False

    def _recv_exact(self, n: int, end: float) -> bytes:

        buf = bytearray(n)
        view, got, interrupted = memoryview(buf), 0, False
        while got < n:
            self.conn.settimeout(max(0.05, min(1.0, end - time.monotonic())))
            try:
                k = self.conn.recv_into(view[got:])
            except TimeoutError:
                k = None
            except OSError:
                k = 0
            if k == 0:  # the kernel's end of the socket closed: it died (or was made to close it)
                self.dead = True  # either way the notebook goes on in a fresh kernel, this cell failed
                self.serving = False
                raise StudentKernelError("the student's kernel died")
            if k:
                got += k
                continue
            if not self.is_alive():
                self.dead = True
                raise StudentKernelError("the student's kernel died")
            if time.monotonic() >= end:
                if interrupted:
                    self.dead = True
                    raise StudentKernelError("the student's kernel did not answer after an interrupt")
                self.interrupt()
                interrupted, end = True, time.monotonic() + 10
        return bytes(buf)

    def _roundtrip(self, request: bytes, left: float) -> str:
        if not self.serving:
            self._begin(left)
        end = time.monotonic() + left
        try:
            self.conn.sendall(struct.pack("!Q", len(request)) + request)
        except OSError:
            self.dead = True
            raise StudentKernelError("the student's kernel died") from None
        (n,) = struct.unpack("!Q", self._recv_exact(8, end))
        if n > MAX_REPLY_CHARS:
            self.dead = True  # the stream cannot be resynchronised: the kernel is restarted
            raise StudentKernelError("the student's kernel sent an answer over the size limit")
        return self._recv_exact(n, end).decode("utf-8", errors="replace")

    def request(self, op: str, target: dict, args: tuple, kwargs: dict):
        if self.expired:
            raise StudentTimeout(f"did not return within {self.timeout_text}: interrupted")
        if self.dead:
            raise StudentKernelError("the student's kernel died")
        if not self.ready:
            raise StudentKernelError(f"the grader could not reach the student's code ({self.failure})")
        payload = {"op": op, **target, "args": encode(list(args)), "kwargs": encode(dict(kwargs))}
        if self.scratch:
            payload["scratch"] = True
        self.calls += 1
        left = 60.0 if self.deadline is None else max(1.0, self.deadline - time.monotonic())
        answer = self._answer(self._roundtrip(json.dumps(payload).encode(), left))
        if not answer.get("ok"):
            kind, message = str(answer.get("type"))[:100], str(answer.get("message"))[:2000]
            if kind == "KeyboardInterrupt":
                self.expired = True
                raise StudentTimeout(f"did not return within {self.timeout_text}: interrupted")
            cls = EXCEPTIONS.get(kind)
            if cls is not None:
                raise cls(message)
            raise StudentError(f"{kind}: {message}")
        value = decode(answer.get("value"), self._remote)
        if op == "call" or op == "kit":
            # in-place changes of tensor arguments are copied back, so that check_unchanged sees them
            for index, new in answer.get("changed") or []:
                if type(index) is int and 0 <= index < len(args) and type(args[index]) is torch.Tensor:
                    t, old = decode(new, self._remote), args[index]
                    with torch.no_grad():
                        if isinstance(t, torch.Tensor) and t.shape == old.shape and t.dtype == old.dtype:
                            args[index].copy_(t)
                        else:
                            args[index].fill_(float("nan"))  # changed shape or dtype in place: not unchanged
            for key, state in answer.get("generators") or []:
                g = args[key] if type(key) is int and 0 <= key < len(args) else kwargs.get(key)
                new = decode(state, self._remote)
                if isinstance(g, torch.Generator) and isinstance(new, torch.Generator):
                    g.set_state(new.get_state())
        return value

    def _answer(self, text: str) -> dict:
        try:
            answer = json.loads(text)
        except (ValueError, RecursionError, MemoryError) as exc:
            raise StudentKernelError(f"the student's kernel sent no readable answer ({type(exc).__name__})") from None
        if type(answer) is not dict:
            raise StudentKernelError("the student's kernel sent no readable answer")
        return answer

    def _remote(self, ident, type_name, is_callable):
        return Remote(self, ident=ident, type_name=type_name, is_callable=is_callable)


# -- running cells on the trusted side ------------------------------------------------------------
def run_trusted(source: str, namespace: dict, label: str) -> list[dict]:
    """Execute a test (or setup) cell here; its outputs as nbformat dicts, written by the grader:
    what it printed, and for an exception only `Type: message` (never a line of the test's source)."""
    from nbformat.v4 import new_output

    out, err = io.StringIO(), io.StringIO()
    error = None
    try:
        code = compile(source, f"<{label}>", "exec")
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            warnings.simplefilter("ignore")
            exec(code, namespace)
    except StudentKernelError as exc:
        error = ("StudentKernelError", str(exc))
    except BaseException as exc:  # noqa: BLE001 - a failed test, reported as the test's message
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            error = (type(exc).__name__, "the test was stopped")
        else:
            error = (type(exc).__name__, str(exc))
        if isinstance(exc, SyntaxError | NameError) and label.startswith("setup"):
            traceback.print_exc(file=err)
    outputs = []
    if out.getvalue():
        outputs.append(new_output("stream", name="stdout", text=out.getvalue()))
    if err.getvalue():
        outputs.append(new_output("stream", name="stderr", text=err.getvalue()))
    if error is not None:
        ename, evalue = error
        outputs.append(new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]))
    return outputs
