"""Dot products summed in one fixed order, in SIMD registers, without fastmath.

A sum written as one accumulator is a chain of dependent adds; LLVM vectorises it only
when allowed to reassociate (fastmath), and then how it reassociates depends on the CPU
(the vector width its cost model picks) and on where the code is compiled (standalone,
or inlined and optimised again inside a caller): a run's numbers would depend on the
machine and on which process compiled what first. Here the order is written out in the
IR, with no fast-math flag for LLVM to use, so every machine and every caller computes
the same bits:

- the terms go to ``lanes(itemsize)`` partial sums, term i to partial sum i % lanes
  (VECTORS = 2 vectors of a 32-byte register each: 8 float64 or 16 float32 partial
  sums, by the type summed in; an AVX2 register, half an AVX-512 one: with wider
  vectors the final sum's longer chain made short rows slower);
- each partial sum accumulates by fused multiply-add (``llvm.fma``: one rounding, the
  same on every machine; in hardware on every x86-64 CPU since Haswell), terms in order;
- the vectors are added pairwise (v0 + v1), then the register's lanes by halves
  (lane l + lane l + w/2, ...) down to one number.

``dot(a, b)`` is sum_i a_i b_i in the arrays' dtype, ``dot_float64(a, b)`` the same summed
in float64 (float32 terms widened exactly first), ``dot_float64_four(a, b0, .., b3)`` four
of those sharing a in one pass, ``difference_and_sum_squares(a, b)`` the squared norms of
a - b and a + b in one pass; ``update_dot_pair(w0, w1, c0, c1, x, xn)``
does w_i <- fma(c, x_i, w_i) in place on two rows and returns the dot products of the new
rows with xn, in one pass (the fused SGD step, kernels.sgd_loops). Arguments: 1-D
C-contiguous arrays of one float dtype, of one length (the length is not checked: the
callers are kernels; another layout or dtype does not compile). tests/test_ordered_sums.py
holds each against an exact emulation of these rules (mpmath at the dtype's precision).
"""
from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

REGISTER_BYTES = 32
VECTORS = 2


def lanes(itemsize: int) -> int:
    """The number of partial sums for ``itemsize``-byte floats (term i goes to i % lanes)."""
    return VECTORS * REGISTER_BYTES // itemsize


def _vector_arrays(*arrays) -> bool:
    """1-D C-contiguous arrays of one float dtype."""
    first = arrays[0]
    return all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" and a.dtype == first.dtype
               and isinstance(a.dtype, types.Float) for a in arrays)


class _Vectors:
    """IR helpers: vectors of one register of the accumulation type ``total`` (float64 or
    float32), loaded from and stored to arrays of ``dtype`` (float32 loads are widened to
    float64 when ``total`` is); masked loads and stores, fma, the fixed final sum."""

    def __init__(self, context, builder, dtype, total):
        self.builder = builder
        self.width = REGISTER_BYTES // (total.bitwidth // 8)
        self.element = context.get_value_type(dtype)
        self.stored = ir.VectorType(self.element, self.width)   # as in the arrays
        self.vector = ir.VectorType(context.get_value_type(total), self.width)  # as summed
        self.widen = dtype != total
        self.mask_type = ir.VectorType(ir.IntType(1), self.width)
        module = builder.module
        pointer = ir.PointerType(self.element)
        self.align = ir.Constant(ir.IntType(32), dtype.bitwidth // 8)
        stored, summed = f"v{self.width}f{dtype.bitwidth}", f"v{self.width}f{total.bitwidth}"
        self._fma = cgutils.get_or_insert_function(
            module, ir.FunctionType(self.vector, [self.vector] * 3), f"llvm.fma.{summed}")
        self._masked_load = cgutils.get_or_insert_function(
            module, ir.FunctionType(self.stored, [pointer, ir.IntType(32), self.mask_type, self.stored]),
            f"llvm.masked.load.{stored}.p0")
        self._masked_store = cgutils.get_or_insert_function(
            module, ir.FunctionType(ir.VoidType(), [self.stored, pointer, ir.IntType(32), self.mask_type]),
            f"llvm.masked.store.{stored}.p0")
        self.zero = ir.Constant(self.vector, [ir.Constant(self.vector.element, 0.0)] * self.width)
        self.stored_zero = ir.Constant(self.stored, [ir.Constant(self.element, 0.0)] * self.width)
        self.offsets = ir.Constant(ir.VectorType(ir.IntType(64), self.width), list(range(self.width)))

    def summed(self, value):
        """A loaded vector in the accumulation type (exact: float32 -> float64 is)."""
        return self.builder.fpext(value, self.vector) if self.widen else value

    def pointer(self, data, index):
        return self.builder.gep(data, [index])

    def load(self, data, index):
        ptr = self.builder.bitcast(self.pointer(data, index), self.stored.as_pointer())
        load = self.builder.load(ptr)
        load.align = self.align.constant
        return load

    def store(self, value, data, index):
        ptr = self.builder.bitcast(self.pointer(data, index), self.stored.as_pointer())
        store = self.builder.store(value, ptr)
        store.align = self.align.constant

    def splat_index(self, index):
        """An int64 in every lane."""
        b = self.builder
        indices = ir.VectorType(ir.IntType(64), self.width)
        one = b.insert_element(ir.Constant(indices, None), index, ir.Constant(ir.IntType(32), 0))
        return b.shuffle_vector(one, one, ir.Constant(ir.VectorType(ir.IntType(32), self.width), [0] * self.width))

    def mask(self, index, length):
        """Lanes index + l < length."""
        return self.builder.icmp_signed("<", self.builder.add(self.splat_index(index), self.offsets),
                                        self.splat_index(length))

    def masked_load(self, data, index, mask):
        return self.builder.call(self._masked_load, [self.pointer(data, index), self.align, mask, self.stored_zero])

    def masked_store(self, value, data, index, mask):
        self.builder.call(self._masked_store, [value, self.pointer(data, index), self.align, mask])

    def fma(self, a, b, c):
        return self.builder.call(self._fma, [a, b, c])

    def splat(self, scalar):
        b = self.builder
        one = b.insert_element(ir.Constant(self.vector, None), scalar, ir.Constant(ir.IntType(32), 0))
        return b.shuffle_vector(one, one, ir.Constant(ir.VectorType(ir.IntType(32), self.width), [0] * self.width))

    def total(self, accumulators):
        """The vectors added pairwise ((v0 + v1) + (v2 + v3) for four), then the lanes by
        halves, as one scalar."""
        b = self.builder
        while len(accumulators) > 1:
            accumulators = [b.fadd(accumulators[i], accumulators[i + 1]) for i in range(0, len(accumulators), 2)]
        v = accumulators[0]
        width = self.width
        while width > 1:
            half = width // 2
            low = b.shuffle_vector(v, v, ir.Constant(ir.VectorType(ir.IntType(32), half), list(range(half))))
            high = b.shuffle_vector(v, v, ir.Constant(ir.VectorType(ir.IntType(32), half),
                                                      list(range(half, width))))
            v = b.fadd(low, high)
            width = half
        return b.extract_element(v, ir.Constant(ir.IntType(32), 0))


def _accumulate(context, builder, dtype, total, length, term, sums=1):
    """``sums`` fixed-order sums in ``total`` over [0, length), computed side by side:
    ``term(vectors, index, mask)`` gives the (a, b) vector pairs of each sum at ``index``
    (vectors of the accumulation type). A main loop of VECTORS full vectors per pass, then
    the rest vector by vector, the last partial one masked. Returns the sums."""
    vec = _Vectors(context, builder, dtype, total)
    i64 = ir.IntType(64)
    width = vec.width
    step = ir.Constant(i64, VECTORS * width)
    main_end = builder.mul(builder.sdiv(length, step), step)
    entry = builder.block
    loop = builder.append_basic_block("ordered_sum.loop")
    rest = builder.append_basic_block("ordered_sum.rest")
    builder.cbranch(builder.icmp_signed(">", main_end, ir.Constant(i64, 0)), loop, rest)
    builder.position_at_end(loop)
    index = builder.phi(i64)
    index.add_incoming(ir.Constant(i64, 0), entry)
    phis = [[builder.phi(vec.vector) for _ in range(VECTORS)] for _ in range(sums)]
    updated = [[None] * VECTORS for _ in range(sums)]
    for v in range(VECTORS):
        pairs = term(vec, builder.add(index, ir.Constant(i64, v * width)), None)
        for s, (a, b) in enumerate(pairs):
            phis[s][v].add_incoming(vec.zero, entry)
            updated[s][v] = vec.fma(a, b, phis[s][v])
    following = builder.add(index, step)
    loop_end = builder.block
    for s in range(sums):
        for phi, value in zip(phis[s], updated[s]):
            phi.add_incoming(value, loop_end)
    index.add_incoming(following, loop_end)
    builder.cbranch(builder.icmp_signed("<", following, main_end), loop, rest)
    builder.position_at_end(rest)
    accumulators = []
    for s in range(sums):
        row = []
        for value in updated[s]:
            phi = builder.phi(vec.vector)
            phi.add_incoming(vec.zero, entry)
            phi.add_incoming(value, loop_end)
            row.append(phi)
        accumulators.append(row)
    for v in range(VECTORS):
        at = builder.add(main_end, ir.Constant(i64, v * width))
        whole = builder.append_basic_block("ordered_sum.whole")
        check = builder.append_basic_block("ordered_sum.check")
        part = builder.append_basic_block("ordered_sum.part")
        after = builder.append_basic_block("ordered_sum.next")
        builder.cbranch(builder.icmp_signed("<=", builder.add(at, ir.Constant(i64, width)), length), whole, check)
        builder.position_at_end(whole)
        whole_values = [vec.fma(a, b, accumulators[s][v]) for s, (a, b) in enumerate(term(vec, at, None))]
        whole_end = builder.block
        builder.branch(after)
        builder.position_at_end(check)
        builder.cbranch(builder.icmp_signed("<", at, length), part, after)
        builder.position_at_end(part)
        part_values = [vec.fma(a, b, accumulators[s][v])
                       for s, (a, b) in enumerate(term(vec, at, vec.mask(at, length)))]
        part_end = builder.block
        builder.branch(after)
        builder.position_at_end(after)
        for s in range(sums):
            phi = builder.phi(vec.vector)
            phi.add_incoming(whole_values[s], whole_end)
            phi.add_incoming(part_values[s], part_end)
            phi.add_incoming(accumulators[s][v], check)
            accumulators[s][v] = phi
    return [vec.total(row) for row in accumulators]


def _data_and_length(context, builder, array_type, value):
    array = context.make_array(array_type)(context, builder, value)
    return array.data, cgutils.unpack_tuple(builder, array.shape, 1)[0]


def _dot_codegen(total_of):
    """Codegen of the dot products of args[0] with each of args[1:] (one pass over them
    all): one sum, or a tuple of them."""
    def codegen(context, builder, signature, args):
        dtype = signature.args[0].dtype
        a_data, length = _data_and_length(context, builder, signature.args[0], args[0])
        others = [_data_and_length(context, builder, t, v)[0] for t, v in zip(signature.args[1:], args[1:])]

        def term(vec, at, mask):
            load = vec.load if mask is None else (lambda data, index: vec.masked_load(data, index, mask))
            a = vec.summed(load(a_data, at))
            return [(a, vec.summed(load(b_data, at))) for b_data in others]

        sums = _accumulate(context, builder, dtype, total_of(dtype), length, term, sums=len(others))
        return sums[0] if len(sums) == 1 else context.make_tuple(builder, signature.return_type, sums)

    return codegen


@intrinsic
def dot(typingctx, a, b):
    """sum_i a_i b_i in the fixed order of the module docstring, in the arrays' dtype."""
    if not _vector_arrays(a, b):
        return None
    return a.dtype(a, b), _dot_codegen(lambda dtype: dtype)


@intrinsic
def dot_float64(typingctx, a, b):
    """``dot`` summed in float64 (float32 terms widened exactly before their fma)."""
    if not _vector_arrays(a, b):
        return None
    return types.float64(a, b), _dot_codegen(lambda dtype: types.float64)


@intrinsic
def dot_float64_four(typingctx, a, b0, b1, b2, b3):
    """(dot_float64(a, b0), .., dot_float64(a, b3)), bit for bit, in one pass over a."""
    if not _vector_arrays(a, b0, b1, b2, b3):
        return None
    return types.UniTuple(types.float64, 4)(a, b0, b1, b2, b3), _dot_codegen(lambda dtype: types.float64)


@intrinsic
def difference_and_sum_squares(typingctx, a, b):
    """(dot(a - b, a - b), dot(a + b, a + b)), bit for bit (a - b and a + b rounded to the
    arrays' dtype first), in one pass over a and b."""
    if not _vector_arrays(a, b):
        return None

    def codegen(context, builder, signature, args):
        dtype = signature.args[0].dtype
        a_data, length = _data_and_length(context, builder, signature.args[0], args[0])
        b_data, _ = _data_and_length(context, builder, signature.args[1], args[1])

        def term(vec, at, mask):
            load = vec.load if mask is None else (lambda data, index: vec.masked_load(data, index, mask))
            x, y = load(a_data, at), load(b_data, at)
            difference, total = builder.fsub(x, y), builder.fadd(x, y)
            return [(difference, difference), (total, total)]

        return context.make_tuple(builder, signature.return_type,
                                  _accumulate(context, builder, dtype, dtype, length, term, sums=2))

    return types.UniTuple(a.dtype, 2)(a, b), codegen


@intrinsic
def signed_activation_sum(typingctx, pre, alpha, k):
    """sum_j s_j sigma(pre_j) in float64, s_j = +1 for j < k and -1 from k on, sigma(h) =
    max(h, alpha h) (the Leaky ReLU for 0 <= alpha < 1; h unless alpha h > h): N_W(x) / v
    of THEORY.md §1 from the pre-activations, each term widened to float64 first and
    added by fma(s_j, sigma_j, partial sum), in the fixed order of the module docstring."""
    if not (_vector_arrays(pre) and isinstance(alpha, types.Float) and isinstance(k, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        pre_type = signature.args[0]
        data, length = _data_and_length(context, builder, pre_type, args[0])
        slope = context.cast(builder, args[1], signature.args[1], types.float64)
        first_u = context.cast(builder, args[2], signature.args[2], types.int64)

        def term(vec, at, mask):
            h = vec.summed(vec.load(data, at) if mask is None else vec.masked_load(data, at, mask))
            scaled = builder.fmul(vec.splat(slope), h)
            activation = builder.select(builder.fcmp_ordered(">", scaled, h), scaled, h)
            index = builder.add(vec.splat_index(at), vec.offsets)
            one = ir.Constant(vec.vector.element, 1.0)
            sign = builder.select(builder.icmp_signed("<", index, vec.splat_index(first_u)),
                                  ir.Constant(vec.vector, [one] * vec.width),
                                  ir.Constant(vec.vector, [ir.Constant(vec.vector.element, -1.0)] * vec.width))
            return [(sign, activation)]

        return _accumulate(context, builder, pre_type.dtype, types.float64, length, term)[0]

    return types.float64(pre, alpha, k), codegen


def _update_term(context, builder, signature, args, rows):
    """(dtype, length, term) of ``rows`` updates w <- fma(c, x, w) of rows sharing x and xn:
    arguments (w_1.., c_1.., x, xn)."""
    dtype = signature.args[0].dtype
    ws = [_data_and_length(context, builder, signature.args[r], args[r]) for r in range(rows)]
    cs = [context.cast(builder, args[rows + r], signature.args[rows + r], dtype) for r in range(rows)]
    x_data, _ = _data_and_length(context, builder, signature.args[2 * rows], args[2 * rows])
    xn_data, _ = _data_and_length(context, builder, signature.args[2 * rows + 1], args[2 * rows + 1])

    def term(vec, at, mask):
        load = vec.load if mask is None else (lambda data, index: vec.masked_load(data, index, mask))
        store = vec.store if mask is None else (lambda value, data, index: vec.masked_store(value, data, index, mask))
        x, xn = load(x_data, at), load(xn_data, at)
        pairs = []
        for (w_data, _), c in zip(ws, cs):
            new = vec.fma(vec.splat(c), x, load(w_data, at))
            store(new, w_data, at)
            pairs.append((new, xn))
        return pairs

    return dtype, ws[0][1], term


@intrinsic
def update_dot_pair(typingctx, w0, w1, c0, c1, x, xn):
    """For two rows w0, w1 of one length: w_i <- fma(c, x_i, w_i) in place, then
    sum_i w_i xn_i (fixed order, in the rows' dtype) for each, in one pass over x and xn:
    two sums in flight side by side."""
    if not (_vector_arrays(w0, w1, x, xn) and isinstance(c0, types.Float) and isinstance(c1, types.Float)):
        return None

    def codegen(context, builder, signature, args):
        dtype, length, term = _update_term(context, builder, signature, args, 2)
        return context.make_tuple(builder, signature.return_type, _accumulate(context, builder, dtype, dtype, length,
                                                                             term, sums=2))

    return types.UniTuple(w0.dtype, 2)(w0, w1, c0, c1, x, xn), codegen
