#!/usr/bin/env python3
"""The instruction order of one row of core/src/kernels/arm/asm_batch_k4finish.rs's routines.

Lists the operations of one row of 2 or 3 Q4_K blocks for the four tokens of a batched
product (per block: the scale word widened and checked, the 8 sums converted, per token
`(d·dx)·isum − (dmin·dx)·msum`; per token the row sum of `RowSum::of_blocks` and a store
into that token's output row) with their register dependencies, and orders them with the
greedy list scheduler of scripts/k4finish-schedule.py (earliest issue cycle under the
ARM1176 timing of the cost model README in ../shared/tools, ties to the longest path to
the row's end). Prints the row's body as the string lines pasted into the routines, with
the modelled cycles.
Usage: scripts/k4finish4-schedule.py {2|3}
"""
import sys


def alu(t, d, s=(), e=()):
    return dict(t=t, d={x: 1 for x in d}, s=list(s), e=list(e), lsu=0)


def vfp(t, dst, srcs, lat=8):
    return dict(t=t, d={dst: lat}, s=list(srcs), e=[], lsu=0)


def sreg(i):
    return 's%d' % i


def block_ops(b, nb):
    """Block b of a row: integer registers (scale word / check, d, dmin), VFP registers
    (see the module doc of asm_batch_k4finish.rs)."""
    dd, d, m = ('r6', 'r7', 'r8') if b % 2 == 0 else ('r10', 'r12', 'lr')
    dk = 0 if b % 2 == 0 else 1  # d/dmin in s(2dk), s(2dk+1)
    sd, sm = sreg(2 * dk), sreg(2 * dk + 1)
    if b == 0:
        A, M, Q = [8, 9, 10, 11], [12, 13, 14, 15], [24, 25, 26, 27]
    elif b == 1:
        A, M, Q = [16, 17, 18, 19], [20, 21, 22, 23], [28, 29, 30, 31]
    else:
        A, M, Q = [12, 13, 14, 15], [20, 21, 22, 23], [24, 25, 26, 27]
    P = [4, 5, 6, 7]
    ops = []
    ops.append(dict(t='ldr %s, [r0], #4' % dd, d={dd: 3, 'r0': 1}, s=[], e=['r0'], lsu=1))
    if b < 2:
        regs = A + M
        ops.append(dict(t='vldmia r0!, {{s%d-s%d}}' % (A[0], M[3]), d={**{sreg(r): 4 + k // 2 for k, r in enumerate(regs)}, 'r0': 1}, s=[], e=['r0'], lsu=4, issue=4))
    else:
        ops.append(dict(t='vldmia r0!, {{s%d-s%d}}' % (A[0], A[3]), d={**{sreg(r): 4 + k // 2 for k, r in enumerate(A)}, 'r0': 1}, s=[], e=['r0'], lsu=2, issue=2))
        ops.append(dict(t='vldmia r0!, {{s%d-s%d}}' % (M[0], M[3]), d={**{sreg(r): 4 + k // 2 for k, r in enumerate(M)}, 'r0': 1}, s=[], e=['r0'], lsu=2, issue=2))
    # The four tokens' dx of this block, as two D registers.
    for h in range(2):
        ops.append(dict(t='vldr d%d, [sp, #%d]' % (Q[2 * h] // 2, 8 + 16 * b + 8 * h), d={sreg(Q[2 * h]): 4, sreg(Q[2 * h + 1]): 4}, s=[], e=['sp'], lsu=1))
    ops += [alu('mov %s, %s, lsl #16' % (d, dd), [d], [], [dd]), alu('mov %s, %s, asr #16' % (m, dd), [m], [], [dd]),
            alu('mov %s, %s, asr #3' % (d, d), [d], [], [d]), alu('mov %s, %s, lsl #13' % (m, m), [m], [], [m]),
            alu('bic %s, %s, #0x70000000' % (d, d), [d], [d]), alu('bic %s, %s, #0x70000000' % (m, m), [m], [m]),
            alu('add %s, %s, #0x38000000' % (d, d), [d], [d]), alu('add %s, %s, #0x38000000' % (m, m), [m], [m])]
    ops.append(dict(t='vmov d%d, %s, %s' % (dk, d, m), d={sd: 4, sm: 4}, s=[d, m], e=[], lsu=0))
    ops += [alu('and %s, %s, r11' % (dd, dd), [dd], [dd, 'r11']), alu('add %s, %s, r9' % (dd, dd), [dd], [dd, 'r9'])]
    if b == 0:
        ops.append(alu('tst %s, #0x7800' % dd, ['cpsr'], [dd]))
    else:
        ops.append(alu('tstne %s, #0x7800' % dd, ['cpsr'], [dd, 'cpsr']))
    ops.append(alu('tstne %s, #0x78000000' % dd, ['cpsr'], [dd, 'cpsr']))
    for t in range(4):
        a, mm, q, p = sreg(A[t]), sreg(M[t]), sreg(Q[t]), sreg(P[t])
        ops.append(vfp('vcvt.f32.s32 %s, %s' % (a, a), a, [a]))
        ops.append(vfp('vcvt.f32.s32 %s, %s' % (mm, mm), mm, [mm]))
        ops.append(vfp('vmul.f32 %s, %s, %s' % (p, sd, q), p, [sd, q]))
        ops.append(vfp('vmul.f32 %s, %s, %s' % (q, sm, q), q, [sm, q]))
        ops.append(vfp('vmul.f32 %s, %s, %s' % (a, p, a), a, [p, a]))
        ops.append(vfp('vmul.f32 %s, %s, %s' % (mm, q, mm), mm, [q, mm]))
        ops.append(vfp('vsub.f32 %s, %s, %s' % (a, a, mm), a, [a, mm]))
    return ops


def row(nb):
    ops = []
    for b in range(nb):
        ops += block_ops(b, nb)
    # +0.0 from the frame into s3 (block 1's dmin, free once its products are made).
    ops.append(dict(t='vldr s3, [sp, #4]', d={'s3': 4}, s=[], e=['sp'], lsu=1))
    for t in range(4):
        v0, v1, v2 = sreg(8 + t), sreg(16 + t), sreg(12 + t)
        ops.append(vfp('vadd.f32 %s, %s, %s' % (v0, v0, v1), v0, [v0, v1]))
        if nb == 2:
            ops.append(vfp('vadd.f32 %s, %s, s3' % (v0, v0), v0, [v0, 's3']))
        else:
            ops.append(vfp('vadd.f32 %s, %s, s3' % (v2, v2), v2, [v2, 's3']))
            ops.append(vfp('vadd.f32 %s, %s, %s' % (v0, v0, v2), v0, [v0, v2]))
        o = 'r%d' % (2 + t)
        # Store data is a Late operand: one cycle of slack.
        ops.append(dict(t='vstmia %s!, {{%s}}' % (o, v0), d={o: 1}, s=[], late=[v0], e=[o], lsu=1))
    ops.append(alu('moveq r7, #0', ['r7'], ['cpsr']))
    ops.append(dict(t='streq r7, [sp]', d={}, s=['cpsr'], late=['r7'], e=['sp'], lsu=1))
    return ops


def schedule(ops):
    n = len(ops)
    for o in ops:
        o.setdefault('late', [])
    deps = [[] for _ in range(n)]
    for j in range(n):
        rj = set(ops[j]['s']) | set(ops[j]['e']) | set(ops[j]['late'])
        wj = set(ops[j]['d'])
        for i in range(j):
            ri = set(ops[i]['s']) | set(ops[i]['e']) | set(ops[i]['late'])
            wi = set(ops[i]['d'])
            if wi & rj:
                deps[j].append((i, 'raw'))
            elif wi & wj:
                deps[j].append((i, 'waw'))
            elif ri & wj:
                deps[j].append((i, 'war'))
    h = [0] * n
    for j in range(n - 1, -1, -1):
        lat = max(list(ops[j]['d'].values()) + [1])
        succ = [k for k in range(j + 1, n) if any(i == j for i, _ in deps[k])]
        h[j] = lat + max([h[k] for k in succ] + [0])
    issued = {}
    ready = {}
    cyc = 0
    lsu_free = 0
    out = []
    done = set()
    while len(done) < n:
        best = None
        for j in range(n):
            if j in done or any(i not in done for i, _ in deps[j]):
                continue
            t = cyc
            for r in ops[j]['s']:
                t = max(t, ready.get(r, 0))
            for r in ops[j]['e']:
                t = max(t, ready.get(r, 0) + 1)
            for r in ops[j]['late']:
                t = max(t, ready.get(r, 0) - 1)
            if ops[j]['lsu']:
                t = max(t, lsu_free)
            for i, kind in deps[j]:
                if kind in ('war', 'waw'):
                    t = max(t, issued[i] + 1)
            if best is None or (t, -h[j]) < (best[0], -h[best[1]]):
                best = (t, j)
        t, j = best
        issued[j] = t
        done.add(j)
        for r, l in ops[j]['d'].items():
            ready[r] = max(ready.get(r, 0), t + l)
        if ops[j]['lsu']:
            lsu_free = t + ops[j]['lsu']
        cyc = t + ops[j].get('issue', 1)
        out.append((t, ops[j]['t']))
    return out, cyc


if __name__ == "__main__":
    nb = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    out, c = schedule(row(nb))
    print("\n".join('        "%s",' % t for _, t in out))
    print("// %d cycles" % c, file=sys.stderr)
